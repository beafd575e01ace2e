// One optimizer step and one evaluation pass, on this process's rows of the batch and this
// process's pipeline stage.
#pragma once

#include <cstdint>

#include "core/data/loader.h"
#include "core/model.h"
#include "core/optim/loss_scaler.h"
#include "core/optim/optimizer.h"
#include "engine/step_graph.h"
#include "parallel/grad_reducer.h"
#include "parallel/pipeline_executor.h"
#include "parallel/zero_shard.h"

namespace trainer {

enum class LossKind { CrossEntropy, MSE };
LossKind loss_kind(const std::string& name);

struct StepPlan {
  int64_t step = 0, epoch = 0, batch = 0;  // optimizer step, epoch, batch within the epoch
  int64_t global_batch = 0;                // samples in the global batch
  int64_t targets_per_sample = 1;          // 1 label, or T tokens: the loss is averaged over
                                           // global_batch x targets_per_sample targets
  int64_t rows_begin = 0, rows_end = 0;    // this data-parallel rank's rows of the global batch
  int64_t grad_accum = 1;                  // rounds of the pipeline schedule per step
  int microbatches = 1;                    // micro-batches per round
  uint64_t seed = 0;
  float lr = 0.0f;
  double clip_grad_norm = 0.0;
  int stop_signal = 0;         // a SIGINT/SIGTERM this rank received, agreed with the others
  bool poison_inputs = false;  // fault injection: the first sample reads as NaN
  bool inf_gradient = false;   // fault injection: one gradient element of this rank reads inf
};

struct StepResult {
  double loss_sum = 0.0;  // summed over this process's rows (0 off the last stage)
  int64_t correct = 0;
  double grad_norm = 0.0;  // of the whole model, before clipping; 0 when clipping is off
  // Agreed by every rank before the update:
  int nonfinite_rank = -1;  // the lowest world rank whose loss was not finite; no update then
  bool nonfinite_gradient = false;  // its loss was finite, a gradient was not (no loss scaling)
  int stop_signal = 0;              // a SIGINT/SIGTERM some rank received (the step still updates)
  bool overflowed = false;  // loss scaling: some rank's gradients were not finite; no update
};

struct EvalResult {
  double loss_sum = 0.0;
  int64_t correct = 0;
  int64_t samples = 0;  // targets (samples, or tokens), counted on the last stage only
};

// A parameter two pipeline stages hold (the token embedding on the first, the output head tied
// to it on the last): each step their gradients are summed, so both copies stay equal.
struct SharedParam {
  Param* param;
  int peer_stage;     // the other stage holding it
  bool counted_here;  // in the gradient norm (one end only)
};

// Tensor parallelism at the output: the head's logits are this rank's slice of the vocabulary,
// from `begin`, and the loss is computed over the group (`group` null: the whole vocabulary).
struct VocabSplit {
  TensorCollectives* group = nullptr;
  int64_t begin = 0;
};

// What one rank trains: its stage of the model and the communicators around it.
struct StageContext {
  Model& model;
  PipelineExecutor& executor;
  Communicator& pipeline;  // the other stages of this replica (gradient norm)
  Communicator& world;     // every rank (the non-finite and stop flags)
  GradReducer* reducer;    // null without data parallelism
  LossScaler& scaler;      // scales the loss, unscales gradients, skips overflowed steps
  const std::vector<SharedParam>& shared;  // this stage's ends of cross-stage ties
  // ZeRO: the data-parallel ranks' split of the flat buffers (off without), and their group.
  const ZeroShards& zero;
  Communicator& data;
  // The ranks this one splits its layers with (tensor parallelism): split parameters' squared
  // norms are summed over them, replicated ones counted on rank 0; each rank computes the same
  // loss, counted on rank 0.
  Communicator& tensor;
  VocabSplit vocab;
  // train.cuda_graph: the whole step replayed as a CUDA graph (null: eager).
  StepGraph* graph = nullptr;
  // Where the step's update decision is written (update_decision_buffer: on the model's device,
  // made once, so a graph's replays write it where the host reads it).
  Tensor decision;
};

// The buffer StageContext::decision needs on `device`.
Tensor update_decision_buffer(Device device);

// Zeroes gradients; runs grad_accum rounds of the pipeline schedule over the rows cut into
// grad_accum x microbatches pieces (each sample's loss divided by the global batch, so the
// gradients are the global mean); sums gradients over the data-parallel ranks during the last
// round's last backward (and tied ones with the other stage); agrees with every rank on the
// flags of StepResult (a non-finite loss or gradient anywhere skips the update everywhere; under
// loss scaling a non-finite gradient is an overflow, which also halves the scale); unscales;
// clips by the norm of the whole model; updates. Under ZeRO each data rank does the last three
// on its own range and the updated values are then gathered from every rank. One process
// decides on the device (cpu::UpdateDecision), behind backward, and the host waits once, at the
// step's end; with several, the ranks agree on the host first.
StepResult train_step(const StageContext& stage, Optimizer& opt, DataLoader& loader, LossKind loss,
                      const StepPlan& plan);

// Evaluation of rows [begin, end) of every batch (this data-parallel rank's shard), in
// evaluation mode, through the pipeline.
EvalResult evaluate_shard(const StageContext& stage, DataLoader& loader, LossKind loss, int shard,
                          int shards);

}  // namespace trainer
