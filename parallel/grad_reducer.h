// Data-parallel gradient reduction, overlapped with backward.
//
// The model keeps every gradient in one flat buffer, in reverse layer order (see Model's note
// on flat parameters); the reducer cuts it into buckets of about `bucket_mb`. When backward has
// finished layer i, every bucket whose parameters all belong to layers >= i is complete, and its
// all-reduce starts at once, while backward goes on with the layers below. finish() waits for all
// of them.
//
// Each gradient is already divided by the global batch (the loss is the mean over all ranks'
// samples), so the all-reduce is a plain sum: the result is the global mean gradient.
//
// Under ZeRO (`shards` given: the data ranks' ranges of the flat buffer) a bucket is
// reduce-scattered instead: each rank receives the sums of the bucket's part inside its own
// range, and only its range holds reduced gradients afterwards.
//
// A parameter another pipeline stage also holds (`held`: the tied embedding) is a bucket of its
// own, all-reduced whole under every ZeRO stage and only in finish(), after `before_held` has
// summed it with the other stage's copy: both stages then reduce the same numbers in the same
// order, and their copies stay equal bit for bit.
//
// With tracing on, each bucket's all-reduce is a span on the communication track, from when it
// was issued to when it completed, beside the per-layer backward spans: the timeline shows which
// buckets finished while backward was still running.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "core/model.h"
#include "parallel/communicator.h"
#include "parallel/zero_shard.h"

namespace trainer {

class GradReducer {
 public:
  GradReducer(Communicator& data, Model& model, double bucket_mb,
              const std::vector<Param*>& held = {}, std::vector<FlatRange> shards = {});

  // Model::backward's hook: starts the buckets that layer `index` completed.
  void layer_done(size_t index);
  // Starts what is left, waits for every bucket; afterwards all ranks hold the same gradients
  // (their own range of them under ZeRO). `before_held` runs before the held buckets start.
  void finish(const std::function<void()>& before_held = nullptr);
  // ZeRO, after the update: every rank's updated range of `values` (the model's flat values)
  // into every rank's copy, bucket by bucket (one buffer-sized gather would make MPI hold a
  // temporary of the whole model).
  void gather_values(const Tensor& values);

  size_t buckets() const { return buckets_.size(); }
  // Of the last step: buckets whose all-reduce went to the communication thread (a small one
  // may run at once on the caller's, see MpiCommunicator), and of those, the ones that had
  // completed when backward finished: communication hidden behind computation.
  size_t deferred() const { return deferred_; }
  size_t completed_before_backward_end() const { return overlapped_; }

 private:
  struct Bucket {
    size_t lowest_layer;    // the bucket is complete once backward has done this layer
    int64_t layer_index;    // that layer's index in the whole model (the timeline names it)
    int64_t offset, count;  // its range of the flat buffer
    bool scatter;           // reduce-scattered (ZeRO), or all-reduced
    std::unique_ptr<Work> work;
    trace::Clock::time_point started;  // when its all-reduce was issued
    bool deferred = false;             // its all-reduce was still running when start() returned
  };
  void start(Bucket& b);

  void wait_and_trace(std::vector<Bucket>& buckets, const char* name);

  Communicator& comm_;
  Tensor flat_;                    // the model's flat gradients
  std::vector<FlatRange> shards_;  // empty without ZeRO
  std::vector<Bucket> buckets_, held_;
  size_t next_ = 0;
  size_t overlapped_ = 0, deferred_ = 0;
};

}  // namespace trainer
