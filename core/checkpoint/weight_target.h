// Where the tensors of a weight file (llm.c's format, safetensors) go. A file holds the whole
// model; this rank may hold a piece of it: a pipeline stage's layers, a tensor-parallel slice of
// each split parameter. The importers map the file onto the whole model's parameters (their
// names and whole shapes: for a piece, a shapes-only build of the whole model), and the target
// gives each parameter this rank holds, by name, its part.
#pragma once

#include <map>
#include <string>

#include "core/model.h"

namespace trainer {

class WeightTarget {
 public:
  // `whole` and `mine` may be the same model (one process holds all of it).
  WeightTarget(Model& whole, Model& mine);

  Model& whole() const { return whole_; }
  // Whether this rank holds (a part of) `p`, a parameter of the whole model.
  bool holds(const Param& p) const { return mine_by_name_.count(p.name) > 0; }
  // Sets this rank's part of `p` (a parameter of the whole model) from `value`: f32 on the host,
  // p's whole shape. Throws DataError "<source>: <p's name> holds a non-finite value at element
  // i" instead of starting a run from NaN or infinity.
  void set(const Param& p, const Tensor& value, const std::string& source);
  // After every set: the compute copies of the weights (fp16 / bf16) follow them.
  void finish() { mine_.refresh_compute_weights(); }

 private:
  Model& whole_;
  Model& mine_;
  std::map<std::string, Param*> mine_by_name_;
};

}  // namespace trainer
