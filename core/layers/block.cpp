#include "core/layers/block.h"

#include "core/error.h"
#include "core/layer_times.h"
#include "core/ops.h"

namespace trainer {

static Shape output_of(const std::vector<Block::Child>& children) {
  if (children.empty()) throw InternalError("a block needs at least one layer");
  return children.back().second->output_shape();
}

Block::Block(const char* type, std::vector<Child> children, bool residual, const InitContext& ctx)
    : Layer(children.at(0).second->input_shape(), output_of(children), ctx),
      type_(type),
      children_(std::move(children)),
      residual_(residual) {
  for (size_t i = 1; i < children_.size(); ++i)
    if (children_[i].second->input_shape() != children_[i - 1].second->output_shape())
      throw InternalError(std::string(type) + ": " + children_[i].first + " expects " +
                          shape_str(children_[i].second->input_shape()) + ", got " +
                          shape_str(children_[i - 1].second->output_shape()));
  if (residual_ && output_shape() != input_shape())
    throw InternalError(std::string(type) + ": a residual block must keep its shape " +
                        shape_str(input_shape()) + ", gives " + shape_str(output_shape()));
  for (size_t i = 1; i < children_.size(); ++i) children_[i].second->set_needs_input_grad(true);
}

std::string Block::describe() const {
  std::string out = residual_ ? "x + " : "";
  for (size_t i = 0; i < children_.size(); ++i) out += (i ? " > " : "") + children_[i].first;
  return out;
}

void Block::set_needs_input_grad(bool v) {
  Layer::set_needs_input_grad(v);
  children_.front().second->set_needs_input_grad(v);
}

Tensor Block::forward(const Tensor& x, Stash& saved, const ForwardContext& ctx) {
  saved.children.resize(children_.size());
  Tensor h = x;
  for (size_t i = 0; i < children_.size(); ++i) {
    Layer& child = *children_[i].second;
    h = layer_times::timed(layer_times::forward_pass(), child,
                           [&] { return child.forward(h, saved.children[i], ctx); });
  }
  if (!residual_) return h;
  Tensor y = Tensor::empty(h.shape(), h.dtype(), h.device());
  layer_times::timed_work("forward residual add", [&] { ops::add(x, h, y); });
  return y;
}

Tensor Block::backward(const Tensor& dy, Stash& saved) {
  Tensor dx = backward_pass(dy, saved, &Layer::backward);
  saved.children.clear();
  return dx;
}

// B: the children's B's, whose stashes stay for their W's.
Tensor Block::backward_input(const Tensor& dy, Stash& saved) {
  return backward_pass(dy, saved, &Layer::backward_input);
}

void Block::backward_weights(Stash& saved) {
  for (size_t i = children_.size(); i-- > 0;) {
    Layer& child = *children_[i].second;
    layer_times::timed("weights", child, [&] {
      child.backward_weights(saved.children[i]);
      return 0;
    });
  }
  saved.children.clear();
}

Tensor Block::backward_pass(const Tensor& dy, Stash& saved,
                            Tensor (Layer::*pass)(const Tensor&, Stash&)) {
  Tensor g = dy;
  for (size_t i = children_.size(); i-- > 0;) {
    Layer& child = *children_[i].second;
    if (g.defined())
      g = layer_times::timed("backward", child,
                             [&] { return (child.*pass)(g, saved.children[i]); });
  }
  if (!residual_ || !needs_input_grad()) return g;
  // The residual path carries dy to the input unchanged, beside the branch's gradient.
  Tensor dx = Tensor::empty(dy.shape(), dy.dtype(), dy.device());
  layer_times::timed_work("backward residual add", [&] { ops::add(g, dy, dx); });
  return dx;
}

std::vector<Param*> Block::params() {
  std::vector<Param*> out;
  for (auto& [name, layer] : children_)
    for (Param* p : layer->params()) out.push_back(p);
  return out;
}

int64_t Block::children_sum(int64_t (Layer::*cost)() const) const {
  int64_t n = 0;
  for (const auto& [name, layer] : children_) n += ((*layer).*cost)();
  return n;
}

int64_t Block::flops_per_sample() const {
  return (residual_ ? shape_numel(output_shape()) : 0) + children_sum(&Layer::flops_per_sample);
}

int64_t Block::stash_bytes_per_sample() const {
  return children_sum(&Layer::stash_bytes_per_sample);
}

int64_t Block::streamed_bytes_per_sample() const {
  return children_sum(&Layer::streamed_bytes_per_sample);
}

int64_t Block::fused_bytes_per_sample() const {
  return children_sum(&Layer::fused_bytes_per_sample);
}

int64_t Block::tensor_units() const {
  for (const auto& [name, layer] : children_)
    if (const int64_t units = layer->tensor_units()) return units;
  return 0;
}

}  // namespace trainer
