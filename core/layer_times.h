// Where a step's time goes, layer by layer (`log.layer_times: true`): every pass of every layer
// without children (a block's children are timed one by one), summed over the steps after the
// first (which pays for handle creation, algorithm searches and first-touch allocations) and
// grouped by what the layer is: pass, type and path inside its block ("backward attention
// attn.core"), the copies in every block together; a top-level layer by its index in the model
// ("forward linear 3"); the rest of the step's work (the loss, the update, the residual adds, the
// 16-bit weight casts) in rows of its own.
//
// On the GPU a pass is timed by two CUDA events around its kernels, read after the step has
// ended (the step's own read-back has waited for them): the step never waits for a timing. On
// the CPU, by the host clock. Called from the compute thread only; off, a pass costs one branch.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <utility>

#include "core/layers/layer.h"

namespace trainer::layer_times {

// Starts (or stops) timing; `gpu`: the passes run on the compute stream of a GPU.
void enable(bool on, bool gpu);
bool enabled();

// A point in the step in progress (a host clock reading, or an event queued on the compute
// stream), by its number.
int mark();
// The span from mark `begin` to now was `pass` of `layer` (a leaf).
void add(const char* pass, const Layer& layer, int begin);

// The span from mark `begin` to now was `work`, the name of its row: a part of the step that is
// no layer's pass ("loss", "update", a block's residual add), or a pass as add names it.
void add_work(const std::string& work, int begin);

// Runs `run`, a pass of `layer`, and times it when timing is on and `layer` is a leaf.
template <class Run>
auto timed(const char* pass, const Layer& layer, Run&& run) {
  if (!enabled() || layer.has_children()) return run();
  const int begin = mark();
  auto out = run();
  add(pass, layer, begin);
  return out;
}

// Runs `run` (which returns nothing), the step's `work` outside any layer, timed when timing is
// on: with the layers' rows, the table then covers the whole step but the host's gaps.
template <class Run>
void timed_work(const char* work, Run&& run) {
  if (!enabled()) return run();
  const int begin = mark();
  run();
  add_work(work, begin);
}

// While one lives, the forward passes of a block's children are its recompute in backward
// (train.recompute), and are timed as "recompute".
class Recomputing {
 public:
  Recomputing();
  ~Recomputing();
  Recomputing(const Recomputing&) = delete;
  Recomputing& operator=(const Recomputing&) = delete;
};
// "forward", or "recompute" while a Recomputing lives.
const char* forward_pass();

// Before each step: drops what was timed since the last one ended (an evaluation's passes).
void begin_step();
// After each step, `seconds` long on the host's clock: resolves its spans into times, and adds
// them unless it is the first.
void step_done(double seconds);

// {"steps": timed steps, "step_ms": their mean, "layers": [{"name", "calls", "ms", "share"}]},
// the layers longest first; calls and ms are per timed step, share is of step_ms.
nlohmann::json summary();

}  // namespace trainer::layer_times
