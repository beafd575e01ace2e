// train.cuda_graph: a training step (forward, backward, the update's decision and the update)
// recorded once as a CUDA graph and replayed every step after, so the host launches one graph
// instead of every kernel.
//
// A replay repeats what was captured exactly: the kernels, their arguments (pointers, sizes, the
// loss's gradient scale) and the memory they touch; what changes every step (the learning rate,
// the update's decision) the kernels read from device memory. So each step's micro-batches are copied into
// buffers the graph owns before it is replayed, the loss totals are the graph's, the blocks the
// capture allocated stay with the graphs (the caching allocator's graph pool), and a step whose
// micro-batch shapes or gradient scale differ from the capture's is captured anew. A new shape
// first runs one step eagerly (cuDNN's algorithm search and cuBLASLt's heuristics run outside a
// capture). What the host decides per step must not happen inside: a dropout mask keyed by the
// step is refused by the config, and a step with faults injected runs eagerly.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/data/loader.h"
#include "core/loss_totals.h"

namespace trainer {

// Records what a piece of work queues on the compute stream and runs it again: CUDA's stream
// capture, or a stand-in (tests on the CPU).
class GraphRecorder {
 public:
  virtual ~GraphRecorder() = default;
  // Records `work` (which queues device work) without running it; replaces any earlier record.
  virtual void capture(const std::function<void()>& work) = 0;
  // Runs the recorded work again. `work` is that work made anew for this step, for a stand-in
  // without a device to run; a graph ignores it.
  virtual void replay(const std::function<void()>& work) = 0;
};

// The compute stream's recorder; null in a build without CUDA.
std::unique_ptr<GraphRecorder> cuda_graph_recorder();

class StepGraph {
 public:
  // The step over its micro-batches (`pieces`, in order), the loss added into `totals`.
  using Compute = std::function<void(const std::vector<Batch>& pieces, LossTotals& totals)>;

  explicit StepGraph(std::unique_ptr<GraphRecorder> recorder) : recorder_(std::move(recorder)) {}

  // Runs `compute` over `pieces` through the graph (capturing it first where needed) and returns
  // the totals it added into; or returns null, having run nothing, when this step must run
  // eagerly: the first step of a new shape, and every step once a capture has failed.
  const LossTotals* run(const std::vector<Batch>& pieces, float grad_scale, const Compute& compute);

  int64_t captures() const { return captures_; }
  int64_t replays() const { return replays_; }
  // Why the capture failed (a library call refused while recording), or empty.
  const std::string& failure() const { return failure_; }

 private:
  struct Key {
    std::vector<Shape> shapes;  // each piece's x and y
    float grad_scale = 0.0f;
    bool operator==(const Key& o) const { return shapes == o.shapes && grad_scale == o.grad_scale; }
  };

  std::unique_ptr<GraphRecorder> recorder_;
  std::optional<Key> captured_;                    // what the graph holds
  std::optional<std::vector<Shape>> shapes_seen_;  // the pieces' shapes last run eagerly
  std::vector<Batch> inputs_;                      // the buffers the graph reads
  std::optional<LossTotals> totals_;               // and adds into
  int64_t captures_ = 0, replays_ = 0;
  std::string failure_;
};

}  // namespace trainer
