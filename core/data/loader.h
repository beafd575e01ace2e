// Global batches of a data set, in an order that depends only on (seed, epoch).
//
// Training: shuffled each epoch, and the last batch_size-remainder samples of an epoch's order
// are dropped (so every step sees a full global batch; the dropped samples differ each epoch).
// Evaluation: in order, every sample once, the last batch smaller.
// A data-parallel rank reads rows [begin, end) of a global batch: its shard.
// Batches come on the model's device. On a GPU the whole data set is copied there once when it
// takes at most a quarter of the free device memory, and batches are gathered there (no host
// work or copy per step); otherwise each batch is gathered on the host and copied over.
#pragma once

#include <memory>
#include <vector>

#include "core/data/dataset.h"

namespace trainer {

struct Batch {
  Tensor x;  // (n, sample...): f32 images or i32 tokens
  Tensor y;  // (n, target...) i32: a label per sample, or a next token per position
};

class DataLoader {
 public:
  DataLoader(const Dataset& data, int64_t batch_size, bool shuffle, uint64_t seed,
             Device device = Device::cpu());

  int64_t batches_per_epoch() const;
  // Samples in global batch b (batch_size, or fewer for evaluation's last batch).
  int64_t batch_rows(int64_t b) const;
  // Rows [begin, end) of global batch b of epoch `epoch`; without inputs, x is left undefined.
  Batch load(int64_t epoch, int64_t b, int64_t begin, int64_t end, bool inputs = true);
  // Whether the whole data set sits on the device.
  bool resident() const { return all_.y.defined(); }

 private:
  void ensure_order(int64_t epoch);

  const Dataset& data_;
  int64_t batch_size_;
  bool shuffle_;
  uint64_t seed_;
  int64_t order_epoch_ = -1;
  std::vector<int64_t> order_;
  Device device_;
  Batch all_;  // the whole data set on device_, when resident
};

}  // namespace trainer
