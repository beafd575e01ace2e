// A sequential model: layers applied in order, each checked to accept the one before.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <vector>

#include "core/layers/layer.h"

namespace trainer {

// The activation stashes of one micro-batch: one Stash per layer, owned by the caller.
using ModelStash = std::vector<Stash>;

// What a gradient reducer hears of one backward pass, for each layer i from the last to the
// first: `before(i)` ahead of its backward (ZeRO 2 binds gradient storage there), `after(i)`
// once its gradients are complete (communication starts there). Either may be empty.
struct BackwardHooks {
  std::function<void(size_t)> before, after;
};

class Model {
 public:
  // `first_index`: the global index of this model's first layer, when it is one pipeline
  // stage of a larger model (initial weights and parameter names follow the global index).
  Model(Shape input, uint64_t seed, int64_t first_index = 0) : seed_(seed) {
    start_chunk(std::move(input), first_index);
  }

  // Appends a layer; throws ConfigError when its input shape is not this model's output shape.
  void add(std::unique_ptr<Layer> layer);
  // What the next layer's initial weights are keyed by: (seed, its global index).
  InitContext next_init() const { return {seed_, next_index()}; }

  // Chunks: a pipeline stage under the interleaved schedule holds several non-adjacent pieces of
  // the whole model. The layers added after start_chunk are the next chunk: its input `input`
  // (per sample), its first layer the whole model's layer `first_index`. Forward and backward
  // run one chunk (chunk 0 by default: all of a model that has one).
  void start_chunk(Shape input, int64_t first_index);
  int chunks() const { return static_cast<int>(chunks_.size()); }
  const Shape& input_shape(int chunk = 0) const { return chunks_.at(chunk).input; }
  const Shape& output_shape() const { return output_shape(chunks() - 1); }
  const Shape& output_shape(int chunk) const;
  // The first entries of the output's last dimension that are classes (Layer::classes): the
  // rest are padding, -inf (the head's padded vocabulary).
  int64_t classes() const {
    return layers_.empty() ? output_shape().back() : layers_.back()->classes();
  }
  size_t size() const { return layers_.size(); }
  Layer& layer(size_t i) { return *layers_.at(i); }
  const Layer& layer(size_t i) const { return *layers_.at(i); }

  // x(N, input...) -> (N, output...)
  Tensor forward(const Tensor& x, ModelStash& stash, const ForwardContext& ctx, int chunk = 0);
  // dy(N, output...); accumulates every parameter's gradient, calling `hooks` around each
  // layer. Returns d(loss)/d(input): undefined for a model whose first layer is the whole
  // model's first (its input is data), the gradient to send back for a later stage.
  Tensor backward(const Tensor& dy, ModelStash& stash, const BackwardHooks& hooks = {},
                  int chunk = 0);
  // The same in two halves (zero-bubble schedules, see Layer::backward_input): B returns what
  // backward returns and computes the gradients only of layers that do not split; W then
  // computes the rest of the parameters' gradients, calling `hooks` around each layer (a
  // layer's gradients are complete after its W). The stash is held until W.
  Tensor backward_input(const Tensor& dy, ModelStash& stash, int chunk = 0);
  void backward_weights(ModelStash& stash, const BackwardHooks& hooks = {}, int chunk = 0);

  // Every parameter once, in layer order (a shared one under the layer that owns it).
  std::vector<Param*> params();
  // The last layer whose backward writes the gradient of p, a parameter of layer `owner`: the
  // owner, or a later layer it is shared with (the head tied to the embedding).
  size_t last_writer(const Param* p, size_t owner) const;
  int64_t parameter_count() const;
  void zero_grad();
  // Places every parameter and gradient in the model's two flat buffers on `device` (layers are
  // built and initialised on the host, so both backends start from the same weights); later
  // layers' outputs follow their input.
  void to(Device device);
  // Note [flat parameters]: values and gradients live in two flat f32 buffers, each Param a
  // view at a 256-byte-aligned offset (Param::offset), laid out in reverse layer order (the
  // order backward completes them): a data-parallel bucket, a ZeRO shard or a checkpoint range
  // is a range of these buffers, and nobody re-points a Param's value. Alignment gaps hold
  // zeros. The gradient buffer, placed on the model's device first if it is not yet (undefined
  // after release_grads):
  const Tensor& flat_grads();
  // The offsets to() gives parameters of `sizes` elements laid out in that order, and in `total`
  // the buffer's length: another layout's flat buffers (a checkpoint written under another
  // tensor size) can be read with them.
  static std::vector<int64_t> flat_offsets(const std::vector<int64_t>& sizes, int64_t& total);
  // ZeRO 2: frees the flat gradient buffer. Every Param's grad is then unbound until its keeper
  // (the gradient reducer) binds it, at the same offsets, to a bucket's buffer for a backward
  // pass; zero_grad() does nothing.
  void release_grads();
  // The flat buffer of master values (placed by to(); undefined while released).
  const Tensor& flat_values() const { return values_; }
  // ZeRO in mixed precision: every data rank keeps the f32 master values of its range only
  // (ZeroShards::master), and forward and backward read only the compute copies, which the
  // ZeRO gather keeps current. release_values() casts the values into the copies a last time
  // and frees them (each Param::value undefined, refresh_compute_weights() a no-op);
  // restore_values() allocates them again (zeros) and points every Param::value at them,
  // for the caller to fill (a checkpoint, the replica check, the end of training).
  void release_values();
  const Tensor& restore_values();
  bool values_released() const { return values_released_; }
  // ZeRO: while the gather of updated weights is in flight, `wait(i)` returns once those of
  // layers 0..i have arrived (GradReducer::start_gather). forward() calls it before each layer,
  // so the gather overlaps the next forward; wait_for_weights() waits for all of them, and
  // whatever else reads the weights calls it first.
  void set_weights_pending(std::function<void(size_t)> wait) { weights_pending_ = std::move(wait); }
  void wait_for_weights();
  Device device() const { return device_; }
  // The precision forward and backward compute in (F32, F16 or BF16): activations and the
  // weights' compute copies are stored in it; master weights and gradients stay f32.
  void set_compute_dtype(DType dtype);
  DType compute_dtype() const { return compute_; }
  // Casts every master weight into its compute copy: once per step, after the update. Placed,
  // the copies are one flat buffer with the values' offsets (flat_compute()).
  void refresh_compute_weights();
  const Tensor& flat_compute() const { return compute_flat_; }
  // Activation recompute: layer i with layers[i] set keeps only its input for backward during
  // training, and its forward runs again in backward (train.recompute). Gradients are the same
  // bit for bit; the memory of its activations is held by one layer at a time.
  void set_recompute(std::vector<bool> layers);

 private:
  // Each layer's `pass` (a whole backward, or B) from the last to the first, a recomputed one's
  // forward first.
  Tensor backward_pass(const Tensor& dy, ModelStash& stash, const BackwardHooks& hooks, int chunk,
                       Tensor (Layer::*pass)(const Tensor&, Stash&));
  struct Chunk {
    Shape input;
    int64_t first_index;  // in the whole model
    size_t begin;         // its first layer here
  };
  // Chunk c's layers here: [begin, end).
  size_t chunk_end(int c) const {
    return c + 1 < chunks() ? chunks_[static_cast<size_t>(c) + 1].begin : layers_.size();
  }
  int64_t next_index() const {
    return chunks_.back().first_index + static_cast<int64_t>(layers_.size() - chunks_.back().begin);
  }

  std::vector<Chunk> chunks_;
  uint64_t seed_;
  Device device_;
  DType compute_ = DType::F32;
  std::vector<std::unique_ptr<Layer>> layers_;
  std::vector<bool> recompute_;                  // by layer; empty: none
  std::map<const Param*, size_t> tied_users_;    // a shared parameter's later user (by position)
  std::function<void(size_t)> weights_pending_;  // see set_weights_pending
  Tensor grads_;                  // the flat gradients; undefined until placed, or after an add()
  bool grads_released_ = false;   // release_grads(): no flat gradients
  bool values_released_ = false;  // release_values(): no flat master values
  Tensor values_;                 // the flat master values
  Tensor compute_flat_;           // the flat compute copies (values_ itself in fp32)
};

}  // namespace trainer
