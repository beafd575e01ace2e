// A block: named layers applied in order, optionally inside a residual connection
// (y = x + f(x)); blocks nest. The layers' identities are paths below the block's
// ("attn.qkv"), which key their parameters' names, initial weights and dropout masks; their
// stashes are children of the block's stash.
#pragma once

#include <memory>
#include <utility>
#include <vector>

#include "core/layers/layer.h"

namespace trainer {

class Block : public Layer {
 public:
  using Child = std::pair<std::string, std::unique_ptr<Layer>>;
  // `type` names the block in summaries; the children's shapes must chain, and a residual
  // block must give back its input shape.
  Block(const char* type, std::vector<Child> children, bool residual, const InitContext& ctx);

  const char* type() const override { return type_; }
  std::string describe() const override;
  Tensor forward(const Tensor& x, Stash& saved, const ForwardContext& ctx) override;
  Tensor backward(const Tensor& dy, Stash& saved) override;
  Tensor backward_input(const Tensor& dy, Stash& saved) override;
  void backward_weights(Stash& saved) override;
  std::vector<Param*> params() override;
  int64_t flops_per_sample() const override;
  int64_t stash_bytes_per_sample() const override;
  int64_t streamed_bytes_per_sample() const override;
  int64_t fused_bytes_per_sample() const override;
  bool has_children() const override { return true; }
  int64_t tensor_units() const override;  // its first split child's
  void set_needs_input_grad(bool v) override;

  Layer& child(size_t i) { return *children_.at(i).second; }
  size_t size() const { return children_.size(); }

 private:
  // The children's `pass` (a whole backward, or B) from the last to the first, and the residual.
  Tensor backward_pass(const Tensor& dy, Stash& saved,
                       Tensor (Layer::*pass)(const Tensor&, Stash&));
  // Σ over the children of one of their per-sample costs.
  int64_t children_sum(int64_t (Layer::*cost)() const) const;

  const char* type_;
  std::vector<Child> children_;
  bool residual_;
};

}  // namespace trainer
