// The layer contract: forward and backward over a caller-owned activation stash.
//
// A layer holds its parameters and gradients but never the activations of a micro-batch: those
// live in a Stash the caller passes in, so a pipeline stage can keep several micro-batches in
// flight through the same layers. Shapes in comments are (N, ...) with N the micro-batch.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace trainer {

struct Param {
  std::string name;  // "<layer index>.<type>.<weight|bias>", stable across layouts
  Tensor value;      // the master copy, f32: what the optimizer updates and checkpoints hold
  Tensor grad;       // f32, accumulated by backward; zeroed by the training loop
  // What forward and backward compute with: `value` itself in fp32, a copy in the compute
  // precision (fp16 / bf16) otherwise, cast once per step by Model::refresh_compute_weights.
  Tensor compute;
};

// What one layer saved for backward during the forward pass of one micro-batch.
struct Stash {
  std::vector<Tensor> tensors;
};

struct ForwardContext {
  bool training = true;
  uint64_t seed = 0;          // the run's seed
  uint64_t step = 0;          // optimizer step: with sample_offset, keys dropout masks
  int64_t sample_offset = 0;  // index of the micro-batch's first sample in the global batch
};

// Where a layer stands in the whole model: its initial weights depend only on these.
struct InitContext {
  uint64_t seed = 0;
  int64_t layer_index = 0;
};

class Layer {
 public:
  Layer(Shape input, Shape output, int64_t index)
      : input_(std::move(input)), output_(std::move(output)), index_(index) {}
  virtual ~Layer() = default;
  Layer(const Layer&) = delete;
  Layer& operator=(const Layer&) = delete;

  virtual const char* type() const = 0;
  // Hyper-parameters in a few words, for the model summary ("32x3x3 stride 1 pad 0").
  virtual std::string describe() const { return ""; }

  virtual Tensor forward(const Tensor& x, Stash& saved, const ForwardContext& ctx) = 0;
  // Accumulates parameter gradients; returns dx, or an undefined tensor when the layer was told
  // its input needs no gradient (the model's first layer).
  virtual Tensor backward(const Tensor& dy, Stash& saved) = 0;

  virtual std::vector<Param*> params() { return {}; }
  // Forward multiply-adds x2 per sample; backward costs about twice this.
  virtual int64_t flops_per_sample() const { return 0; }
  // Bytes one sample leaves in the stash between forward and backward.
  virtual int64_t stash_bytes_per_sample() const { return 0; }

  const Shape& input_shape() const { return input_; }    // per sample, without N
  const Shape& output_shape() const { return output_; }  // per sample, without N
  int64_t index() const { return index_; }
  void set_needs_input_grad(bool v) { needs_input_grad_ = v; }

 protected:
  bool needs_input_grad() const { return needs_input_grad_; }
  Shape batched(const Shape& per_sample, int64_t n) const {
    Shape s{n};
    s.insert(s.end(), per_sample.begin(), per_sample.end());
    return s;
  }
  std::string param_name(const char* what) const {
    return std::to_string(index_) + "." + type() + "." + what;
  }
  // A parameter of this layer, its value to be initialised and its gradient zeroed.
  Param make_param(const char* what, const Shape& shape) const {
    Tensor value = Tensor::empty(shape);
    return {param_name(what), value, Tensor::zeros(shape), value};
  }
  // params() of a layer with a weight and an optional bias (an undefined value when it has none).
  static std::vector<Param*> weight_and_bias(Param& weight, Param& bias) {
    if (bias.value.defined()) return {&weight, &bias};
    return {&weight};
  }

 private:
  Shape input_, output_;
  int64_t index_;
  bool needs_input_grad_ = true;
};

}  // namespace trainer
