// Runs one pipeline stage's schedule (schedule.h) for a training step or an evaluation batch.
//
// The stage owns a Model of only its layers (under the interleaved schedule, of its chunks).
// Activations go forward and gradients backward by point-to-point messages over the pipeline
// communicator; their shapes come from the plan (rows of the micro-batch x the chunk's input or
// output shape), so no step sends a shape first. Sends are asynchronous and all complete before
// run_step returns.
//
// Look-ahead (on by default): the schedule is data, so the executor posts each receive it will
// need up to kPostedAhead receives ahead of the one it waits for, and the communication thread
// moves the message in while the stage computes; waiting costs nothing once it is in. Off, a
// receive is posted when its action comes (for comparison: every transfer is then waited for).
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
  // The stage model holds `kind`'s chunks per stage (Model::chunks: one, or the interleaved
  // schedule's virtual stages).
  PipelineExecutor(Model& stage_model, Communicator& pipeline, int stage, int stages,
                   ScheduleKind kind, bool lookahead = true);

  // Forward and backward of `microbatches` micro-batches; parameter gradients accumulate.
  // Every micro-batch's backward (its W under zb-h1) calls `hooks` (the data-parallel
  // reducer's).
  void run_step(int microbatches, const MicrobatchSource& source, const BackwardHooks& hooks = {});
  // Forward only, one micro-batch, evaluation mode: the last stage's source.loss sees the output.
  void run_forward(const MicrobatchSource& source);

  // The stages that hold the data's chunk and the loss's.
  bool first() const { return stage_ == 0; }
  bool last() const { return stage_ == stages_ - 1; }
  // The most bytes of activations this stage held for backward at once, over all steps so far.
  int64_t peak_stash_bytes() const { return peak_stash_bytes_; }

  static constexpr int kPostedAhead = 2;  // receives of each direction posted ahead

 private:
  class Transfers;
  Shape batched(const Shape& per_sample, int64_t rows) const;

  Model& model_;
  Communicator& comm_;
  int stage_, stages_;
  ScheduleKind kind_;
  bool lookahead_;
  int64_t peak_stash_bytes_ = 0;
};

}  // namespace trainer
