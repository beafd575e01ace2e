// The layer contract: forward and backward over a caller-owned activation stash.
//
// A layer holds its parameters and gradients but never the activations of a micro-batch: those
// live in a Stash the caller passes in, so a pipeline stage can keep several micro-batches in
// flight through the same layers. Shapes in comments are (N, ...) with N the micro-batch.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/layers/tensor_split.h"
#include "core/tensor.h"

namespace trainer {

struct Param {
  // "<entry>.<type>.<weight|bias>" for a top-level layer ("3.linear.weight"), "<entry>.<path
  // inside the entry>.<what>" for a layer inside a block ("4.attn.qkv.weight"): stable across
  // layouts, the key of checkpoints and of initial weights.
  std::string name;
  Tensor value;  // the master copy, f32: what the optimizer updates and checkpoints hold
  Tensor grad;   // f32, accumulated by backward; zeroed by the training loop
  // What forward and backward compute with: `value` itself in fp32, a copy in the compute
  // precision (fp16 / bf16) otherwise, cast once per step by Model::refresh_compute_weights.
  Tensor compute;
  // Where value and grad sit in the model's flat buffers (elements), once the model has placed
  // them (Model::to): see Model's note on flat parameters.
  int64_t offset = -1;
  // Under tensor parallelism, which slice of the whole model's parameter this is (replicated
  // otherwise): the name is the whole parameter's, the shapes the slice's.
  ParamSplit split{};
  // Under sequence parallelism, a parameter whole on every rank but used on this rank's rows
  // only (a layer norm's): its gradient is this rank's part, summed over the tensor group by the
  // training step.
  bool grad_partial = false;
};

// What one layer saved for backward during the forward pass of one micro-batch; a block keeps
// one child Stash per layer inside it.
struct ForwardContext {
  bool training = true;
  uint64_t seed = 0;          // the run's seed
  uint64_t step = 0;          // optimizer step: with sample_offset, keys dropout masks
  int64_t sample_offset = 0;  // index of the micro-batch's first sample in the global batch
};

struct Stash {
  std::vector<Tensor> tensors;
  std::vector<Stash> children;
  // Activation recompute (Model::set_recompute): the stash holds only the layer's input, in
  // tensors[0]; backward first runs the forward again with this context (the same values: every
  // dropout mask is a pure function of it) to rebuild the full stash.
  std::optional<ForwardContext> replay;
  // Randomness backward draws again rather than keeps (dropout's mask): the forward's context.
  std::optional<ForwardContext> drawn;
};

// Where a layer stands in the whole model: its initial weights and dropout masks depend only on
// these. A layer is identified by its top-level entry and its path inside that entry's block.
struct InitContext {
  InitContext() = default;
  InitContext(uint64_t seed_, int64_t layer_index_, std::string sub_ = {})
      : seed(seed_), layer_index(layer_index_), sub(std::move(sub_)) {}

  uint64_t seed = 0;
  int64_t layer_index = 0;  // the top-level entry
  std::string sub;          // the path inside the entry ("attn.qkv"); empty for the entry itself
  // A layer built only for its costs (a plan): its parameters have shapes and no storage
  // (Tensor::shape_only), so a layer the size of GPT-3's costs no time and no memory.
  bool shapes_only = false;
  // The tensor group the layer's weights are split over (parallel.tensor); one rank by default.
  TensorSplit tensor;

  // The layer `name` inside this one's block.
  InitContext child(const std::string& name) const {
    InitContext c{seed, layer_index, sub.empty() ? name : sub + "." + name};
    c.shapes_only = shapes_only;
    c.tensor = tensor;
    return c;
  }
  // The layer's random-stream identity: its index alone for a top-level layer (so the models
  // that have no blocks keep the weights they always had), the index and the path otherwise.
  uint64_t key() const;
};

class Layer {
 public:
  Layer(Shape input, Shape output, int64_t index)
      : input_(std::move(input)), output_(std::move(output)), id_{0, index, {}} {}
  Layer(Shape input, Shape output, const InitContext& id)
      : input_(std::move(input)), output_(std::move(output)), id_{0, id.layer_index, id.sub} {
    id_.shapes_only = id.shapes_only;
  }
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
  // Backward in two halves, for zero-bubble pipeline schedules: backward_input (B) returns dx
  // (the gradient the stage before waits for) and leaves in `saved` what backward_weights (W)
  // needs to accumulate the parameters' gradients, which nobody waits for. B then W computes
  // what backward computes, bit for bit. By default B is the whole backward and W nothing: a
  // layer whose weight gradients are a small part of its backward (or that has none).
  virtual Tensor backward_input(const Tensor& dy, Stash& saved) { return backward(dy, saved); }
  virtual void backward_weights(Stash& saved) { (void)saved; }

  virtual std::vector<Param*> params() { return {}; }
  // Forward multiply-adds x2 per sample; backward costs about twice this.
  virtual int64_t flops_per_sample() const { return 0; }
  // Bytes one sample leaves in the stash between forward and backward.
  virtual int64_t stash_bytes_per_sample() const { return 0; }
  // Bytes of activations one sample's forward writes and its backward reads again, kept in the
  // stash or made again in a scratch buffer (attention's scores): the memory traffic the cost
  // model counts beside a block's GEMMs.
  virtual int64_t streamed_bytes_per_sample() const { return stash_bytes_per_sample(); }
  // Of those, the bytes that fused 16-bit GPU kernels keep on chip instead (attention's scores,
  // where the flash kernels take its heads): no traffic on a GPU computing in fp16 or bf16.
  virtual int64_t fused_bytes_per_sample() const { return 0; }
  // Into how many equal pieces tensor parallelism may cut this layer (attention's heads, the
  // embedding's rows); 0: it is not split.
  virtual int64_t tensor_units() const { return 0; }

  const Shape& input_shape() const { return input_; }    // per sample, without N
  const Shape& output_shape() const { return output_; }  // per sample, without N
  // How many entries of the output's last dimension are real classes: the first ones. The rest
  // are padding that the layer fills with -inf (the head's padded vocabulary), so that a softmax
  // gives them no weight and no gradient.
  virtual int64_t classes() const { return output_.back(); }
  int64_t index() const { return id_.layer_index; }
  // Its path inside its top-level entry's block ("attn.core"); empty for the entry itself.
  const std::string& path() const { return id_.sub; }
  // A block, whose passes are its children's (which log.layer_times times one by one).
  virtual bool has_children() const { return false; }
  // Keys this layer's random streams (dropout masks).
  uint64_t random_key() const { return id_.key(); }
  // A layer that shares a parameter of an earlier one (the output head tied to the token
  // embedding) names it here; Model::add then hands it over with tie().
  virtual std::string tied_param() const { return ""; }
  // Whether the parameter called `name` ("0.embedding.wte") is the one `tied` names
  // ("embedding.wte": its path without the entry).
  static bool names_tied(const std::string& name, const std::string& tied) {
    return name.size() > tied.size() &&
           name.compare(name.size() - tied.size() - 1, std::string::npos, "." + tied) == 0;
  }
  virtual void tie(Param*) {}
  // When the owner is on another pipeline stage: the layer keeps `copy` (the owner's parameter
  // as initialised, under the owner's name) as its own parameter, which the training step keeps
  // equal to the owner's by summing their gradients every step.
  virtual void tie_to_copy(Param copy) { (void)copy; }
  virtual void set_needs_input_grad(bool v) { needs_input_grad_ = v; }

 protected:
  bool needs_input_grad() const { return needs_input_grad_; }
  // A layer whose output depends on what it is tied to (the head's slice of the vocabulary).
  void set_output_shape(Shape s) { output_ = std::move(s); }
  Shape batched(const Shape& per_sample, int64_t n) const {
    Shape s{n};
    s.insert(s.end(), per_sample.begin(), per_sample.end());
    return s;
  }
  std::string param_name(const char* what) const {
    return std::to_string(id_.layer_index) + "." + (id_.sub.empty() ? type() : id_.sub) + "." +
           what;
  }
  // A parameter of this layer (this rank's `split` of it), its value to be initialised and its
  // gradient zeroed.
  Param make_param(const char* what, const Shape& shape, ParamSplit split = {}) const {
    Tensor value = id_.shapes_only ? Tensor::shape_only(shape) : Tensor::empty(shape);
    return {param_name(what),
            value,
            id_.shapes_only ? Tensor::shape_only(shape) : Tensor::zeros(shape),
            value,
            -1,
            split};
  }
  // params() of a layer with a weight and an optional bias (an unnamed Param when it has none:
  // a present parameter's value may be released, see Model::release_values).
  static std::vector<Param*> weight_and_bias(Param& weight, Param& bias) {
    if (!bias.name.empty()) return {&weight, &bias};
    return {&weight};
  }

 private:
  Shape input_, output_;
  InitContext id_;
  bool needs_input_grad_ = true;
};

}  // namespace trainer
