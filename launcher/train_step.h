// One optimizer step and one evaluation pass over a model, on this process's rows of the batch.
#pragma once

#include <cstdint>

#include "core/data/loader.h"
#include "core/model.h"
#include "core/optim/optimizer.h"
#include "parallel/grad_reducer.h"

namespace trainer {

enum class LossKind { CrossEntropy, MSE };
LossKind loss_kind(const std::string& name);

struct StepPlan {
  int64_t step = 0, epoch = 0, batch = 0;  // optimizer step, epoch, batch within the epoch
  int64_t global_batch = 0;                // samples the loss is averaged over
  int64_t rows_begin = 0, rows_end = 0;    // this process's rows of the global batch
  int64_t chunks = 1;                      // sequential pieces (grad_accum x microbatches)
  uint64_t seed = 0;
  float lr = 0.0f;
  double clip_grad_norm = 0.0;
};

struct StepResult {
  double loss_sum = 0.0;  // summed over this process's rows
  int64_t correct = 0;
  double grad_norm = 0.0;  // before clipping; 0 when clipping is off
};

struct EvalResult {
  double loss_sum = 0.0;
  int64_t correct = 0;
  int64_t samples = 0;
};

// Zeroes gradients, runs forward and backward over the rows in `chunks` pieces (the loss of
// each sample divided by the global batch, so gradients are the global mean), sums the
// gradients over the data-parallel ranks through `reducer` (when given; only the last piece's
// backward communicates), clips, updates.
StepResult train_step(Model& model, Optimizer& opt, DataLoader& loader, LossKind loss,
                      const StepPlan& plan, GradReducer* reducer = nullptr);

// Evaluation of rows [begin, end) of every batch (this rank's shard), in evaluation mode.
EvalResult evaluate_shard(Model& model, DataLoader& loader, LossKind loss, int shard, int shards);

}  // namespace trainer
