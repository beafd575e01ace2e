// Runs one pipeline stage's schedule (schedule.h) for a training step or an evaluation batch.
//
// The stage owns a Model of only its layers. Activations go forward and gradients backward by
// point-to-point messages over the pipeline communicator; their shapes come from the plan (rows
// of the micro-batch x the stage's input or output shape), so no step sends a shape first.
// Sends are asynchronous and all complete before run_step returns; receives block.
//
// With one stage the 1F1B schedule is forward and backward of each micro-batch in turn: the
// plain gradient-accumulation loop, with one micro-batch's activations alive at a time.
#pragma once

#include <cstdint>
#include <functional>

#include "core/model.h"
#include "parallel/communicator.h"
#include "parallel/schedule.h"

namespace trainer {

// What the training loop supplies per micro-batch.
struct MicrobatchSource {
  std::function<int64_t(int mb)> rows;            // samples in micro-batch mb
  std::function<ForwardContext(int mb)> context;  // keys dropout by the samples' positions
  std::function<Tensor(int mb)> input;            // first stage: the samples
  // Last stage: takes the model's output, accumulates the loss, returns d(loss)/d(output).
  std::function<Tensor(int mb, const Tensor& output)> loss;
};

class PipelineExecutor {
 public:
  PipelineExecutor(Model& stage_model, Communicator& pipeline, int stage, int stages,
                   ScheduleKind kind);

  // Forward and backward of `microbatches` micro-batches; parameter gradients accumulate.
  // Every micro-batch's backward calls `hooks` (the data-parallel reducer's).
  void run_step(int microbatches, const MicrobatchSource& source, const BackwardHooks& hooks = {});
  // Forward only, one micro-batch, evaluation mode: the last stage's source.loss sees the output.
  void run_forward(const MicrobatchSource& source);

  bool first() const { return stage_ == 0; }
  bool last() const { return stage_ == stages_ - 1; }
  // The most bytes of activations this stage held for backward at once, over all steps so far.
  int64_t peak_stash_bytes() const { return peak_stash_bytes_; }

 private:
  Shape batched(const Shape& per_sample, int64_t rows) const;
  int tag(int mb, bool grad) const { return 2 * mb + (grad ? 1 : 0); }

  Model& model_;
  Communicator& comm_;
  int stage_, stages_;
  ScheduleKind kind_;
  int64_t peak_stash_bytes_ = 0;
};

}  // namespace trainer
