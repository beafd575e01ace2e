// A sequential model: layers applied in order, each checked to accept the one before.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "core/layers/layer.h"

namespace trainer {

// The activation stashes of one micro-batch: one Stash per layer, owned by the caller.
using ModelStash = std::vector<Stash>;

class Model {
 public:
  Model(Shape input, uint64_t seed) : input_(std::move(input)), seed_(seed) {}

  // Appends a layer; throws ConfigError when its input shape is not this model's output shape.
  void add(std::unique_ptr<Layer> layer);
  // What the next layer's initial weights are keyed by: (seed, its global index).
  InitContext next_init() const { return {seed_, static_cast<int64_t>(layers_.size())}; }

  const Shape& input_shape() const { return input_; }
  const Shape& output_shape() const {
    return layers_.empty() ? input_ : layers_.back()->output_shape();
  }
  size_t size() const { return layers_.size(); }
  Layer& layer(size_t i) { return *layers_.at(i); }
  const Layer& layer(size_t i) const { return *layers_.at(i); }

  // x(N, input...) -> (N, output...)
  Tensor forward(const Tensor& x, ModelStash& stash, const ForwardContext& ctx);
  // dy(N, output...); accumulates every parameter's gradient. `after_layer(i)`, when given, is
  // called as soon as layer i's gradients are complete (the data-parallel reducer starts
  // communicating there).
  void backward(const Tensor& dy, ModelStash& stash,
                const std::function<void(size_t)>& after_layer = nullptr);

  std::vector<Param*> params();
  int64_t parameter_count() const;
  void zero_grad();

 private:
  Shape input_;
  uint64_t seed_;
  std::vector<std::unique_ptr<Layer>> layers_;
};

}  // namespace trainer
