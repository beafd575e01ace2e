// ZeRO in mixed precision: the f32 master values are sharded like the optimizer state. Each data
// rank keeps the master values of its range only (ZeroShards::master, which its optimizer
// updates); every rank holds the whole model's 16-bit compute copies, which forward and backward
// read. After each update a rank casts its range into the compute copies and the ranks
// all-gather them in 16 bits (half the bytes of gathering f32 values). Per parameter a rank
// then holds 2 bytes of weights + 4/N of master instead of 4 + 2.
#pragma once

#include "core/model.h"
#include "parallel/grad_reducer.h"
#include "parallel/zero_shard.h"

namespace trainer {

// When training starts: takes this rank's master values from the model's (a resume may have
// loaded them) and releases the model's flat values.
void keep_master_range(Model& model, const ZeroShards& zero);

// After the optimizer updated `zero.master`: casts it into this rank's range of the compute
// copies, and starts gathering every rank's range (the next forward waits for it layer by
// layer).
void publish_master_range(Model& model, const ZeroShards& zero, GradReducer& reducer);

// The model's whole f32 values again (for a checkpoint, or when training ends): this rank's
// range from its master, the others' gathered. Model::release_values() drops them again.
void gather_master(Model& model, const ZeroShards& zero, GradReducer& reducer);

}  // namespace trainer
