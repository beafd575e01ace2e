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
// Under ZeRO (`zero` on: the data ranks' ranges of the flat buffer) a bucket is reduce-scattered
// instead: each rank receives the sums of the bucket's part inside its own range. Stage 1 does
// it in the step's last backward pass, in the flat buffer, as the all-reduce. Stage 2 keeps no
// flat gradients: a bucket takes a buffer from a pool when backward first writes into it (its
// parameters' grads are bound to views of it), is reduce-scattered in every backward pass
// (each micro-batch, as DeepSpeed's stage 2 does), and once that completes its range's part is
// added into the shard's gradients and the buffer goes back to the pool. The gradients held
// are then the shard's plus two buckets (one written, one reducing), for the price of one
// reduce-scatter per micro-batch.
//
// A parameter another pipeline stage also holds (`held`: the tied embedding) is a bucket of its
// own, all-reduced whole under every ZeRO stage and only in finish(), after `before_held` has
// summed it with the other stage's copy: both stages then reduce the same numbers in the same
// order, and their copies stay equal bit for bit. (Under stage 2 it keeps a buffer of its own
// for the whole step.)
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
  // `zero.grads`, under stage 2, is where each pass's reduced range is added.
  GradReducer(Communicator& data, Model& model, double bucket_mb,
              const std::vector<Param*>& held = {}, ZeroShards zero = {});
  // A gather still in flight (training stopped after a step) is waited for, and the model
  // forgets the wait it was handed: the model may outlive the reducer.
  ~GradReducer();
  GradReducer(const GradReducer&) = delete;
  GradReducer& operator=(const GradReducer&) = delete;

  // Before a step's first backward, which makes `passes` backward passes (micro-batches x
  // accumulation rounds): stages 0 and 1 reduce in the last one only, stage 2 in each.
  void begin_step(int64_t passes);
  // What Model::backward calls around each layer: bind() and layer_done().
  BackwardHooks hooks();
  // Stage 2: binds the buckets whose gradients layer `index`'s backward writes first.
  void bind(size_t index);
  // Starts the buckets that layer `index` completed (in a pass that reduces).
  void layer_done(size_t index);
  // Starts what is left, waits for every bucket; afterwards all ranks hold the same gradients
  // (their own range of them under ZeRO). `before_held` runs before the held buckets start.
  void finish(const std::function<void()>& before_held = nullptr);
  // ZeRO: starts gathering every rank's range of `flat` (a buffer with the flat layout: the
  // model's values, or in mixed precision its 16-bit compute copies) into every rank's copy,
  // bucket by bucket (one buffer-sized gather would make MPI hold a temporary of the whole
  // model), the lowest layers' first; the model's next forward waits for each layer's before
  // running it (Model::set_weights_pending), so the gather overlaps it.
  void start_gather(const Tensor& flat);
  // The same, waited for at once.
  void gather_ranges(const Tensor& flat);

  size_t buckets() const { return buckets_.size(); }
  // Of the last step: buckets whose all-reduce went to the communication thread (a small one
  // may run at once on the caller's, see MpiCommunicator), and of those, the ones that had
  // completed when backward finished: communication hidden behind computation.
  size_t deferred() const { return deferred_; }
  size_t completed_before_backward_end() const { return overlapped_; }
  // The bytes of gradients this rank holds: the flat buffer, or under stage 2 the shard's, the
  // held parameters' and the pool of bucket buffers (two, unless a layer outgrows them).
  int64_t peak_gradient_bytes() const { return peak_bytes_; }

 private:
  struct Bucket {
    size_t lowest_layer;    // the bucket is complete once backward has done this layer
    size_t first_writer;    // the first layer whose backward writes into it
    int64_t layer_index;    // lowest_layer's index in the whole model (the timeline names it)
    int64_t offset, count;  // its range of the flat buffer
    bool scatter;           // reduce-scattered (ZeRO), or all-reduced
    bool keeps_buffer;      // stage 2: a buffer of its own (a held or shared parameter's)
    std::vector<Param*> params;
    std::vector<int64_t> shares{};  // ZeRO: each data rank's elements of it
    Tensor buffer{};  // its gradients: a view of the flat buffer, or of a stage-2 slot
    Tensor slot{};    // stage 2: the pooled buffer it holds during a pass
    std::unique_ptr<Work> work{};
    trace::Clock::time_point started{};  // when its all-reduce was issued
    bool deferred = false;               // its all-reduce was still running when start() returned
  };
  bool own_buffers() const { return zero_.stage >= 2; }
  bool reducing() const { return own_buffers() || pass_ + 1 >= passes_; }
  Tensor take_slot();  // stage 2: a free buffer of the pool
  void start(Bucket& b);
  // Waits for b's reduction; stage 2 then adds its range's part into the shard's gradients.
  void complete(Bucket& b, const char* name, size_t k);
  void complete_all(std::vector<Bucket>& buckets, const char* name);
  // Waits for the gathers of the buckets holding layers 0..layer.
  void wait_gathered(size_t layer);

  Communicator& comm_;
  Model& model_;
  ZeroShards zero_;
  std::vector<Bucket> buckets_, held_;
  size_t next_ = 0;
  int64_t pass_ = 0, passes_ = 1;
  size_t overlapped_ = 0, deferred_ = 0;
  struct Gather {
    size_t lowest_layer;
    std::unique_ptr<Work> work;
  };
  std::vector<Gather> gathers_;  // in flight
  std::vector<Tensor> spare_;    // stage 2: the pool's free slots
  int64_t slot_elems_ = 0;       // of the largest bucket
  int slots_ = 0;                // in the pool, free or not
  int64_t peak_bytes_ = 0;
};

}  // namespace trainer
