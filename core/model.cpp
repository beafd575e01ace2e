#include "core/model.h"

#include <algorithm>
#include <stdexcept>

#include "core/allocator.h"
#include "core/error.h"
#include "core/layer_times.h"
#include "core/ops.h"
#include "core/trace.h"

namespace trainer {

// Runs one layer's pass, as a span on the compute track when tracing is on, and timed when
// log.layer_times is.
template <class Pass>
static Tensor traced(const char* pass, const Layer& layer, Pass&& run) {
  if (!trace::enabled()) return layer_times::timed(pass, layer, run);
  const auto begin = trace::Clock::now();
  Tensor out = layer_times::timed(pass, layer, run);
  trace::span(std::string(pass) + " " + std::to_string(layer.index()) + "." + layer.type(),
              trace::Track::Compute, begin, trace::Clock::now());
  return out;
}

void Model::start_chunk(Shape input, int64_t first_index) {
  chunks_.push_back({std::move(input), first_index, layers_.size()});
}

const Shape& Model::output_shape(int chunk) const {
  const size_t end = chunk_end(chunk);
  return end == chunks_.at(chunk).begin ? chunks_[chunk].input : layers_[end - 1]->output_shape();
}

void Model::add(std::unique_ptr<Layer> layer) {
  if (layer->input_shape() != output_shape())
    throw ConfigError("layer " + std::to_string(next_index()) + " (" + layer->type() +
                      ") expects input " + shape_str(layer->input_shape()) + ", got " +
                      shape_str(output_shape()));
  // The whole model's input is data: no gradient is wanted for it, nor for any layer's input
  // below the first layer with parameters (a flatten in front of the first linear), which
  // saves that layer's dx. A later pipeline stage's input gradient goes back to the stage before.
  bool below_has_params = chunks_.back().first_index > 0;
  for (size_t i = chunks_.back().begin; i < layers_.size(); ++i)
    below_has_params = below_has_params || !layers_[i]->params().empty();
  layer->set_needs_input_grad(below_has_params);
  // A shared parameter (the head tied to the token embedding) is one Param with two users: the
  // later layer gets the earlier one's, and both add into its gradient.
  // (A layer given a copy of a parameter that lives on another pipeline stage owns it.)
  if (const std::string tied = layer->tied_param(); !tied.empty() && layer->params().empty()) {
    Param* found = nullptr;
    for (Param* p : params())
      if (Layer::names_tied(p->name, tied)) found = p;
    if (!found)
      throw ConfigError("layer " + std::to_string(layer->index()) + " (" + layer->type() +
                        ") shares the parameter " + tied +
                        ", which no earlier layer of this model has");
    layer->tie(found);
    tied_users_[found] = layers_.size();
  }
  layers_.push_back(std::move(layer));
  grads_ = values_ = compute_flat_ = Tensor();  // placed again when next asked for
}

Tensor Model::forward(const Tensor& x, ModelStash& stash, const ForwardContext& ctx, int chunk) {
  stash.resize(layers_.size());
  // Data comes as f32 (cast to the compute precision) or as i32 tokens; a later stage's input is
  // already cast.
  Tensor h = x.dtype() == DType::I32 ? x : ops::cast(x, compute_);
  const size_t end = chunk_end(chunk);
  for (size_t i = chunks_.at(chunk).begin; i < end; ++i) {
    if (weights_pending_) weights_pending_(i);
    const Tensor input = h;
    h = traced("forward", *layers_[i], [&] { return layers_[i]->forward(h, stash[i], ctx); });
    if (ctx.training && i < recompute_.size() && recompute_[i]) {
      stash[i] = Stash{};  // its activations are freed now and made again in backward
      stash[i].tensors = {input};
      stash[i].replay = ctx;
    }
  }
  if (end == layers_.size()) weights_pending_ = nullptr;  // every layer's have arrived
  return h;
}

void Model::wait_for_weights() {
  if (!weights_pending_) return;
  weights_pending_(layers_.size());
  weights_pending_ = nullptr;
}

void Model::set_recompute(std::vector<bool> layers) { recompute_ = std::move(layers); }

Tensor Model::backward(const Tensor& dy, ModelStash& stash, const BackwardHooks& hooks, int chunk) {
  return backward_pass(dy, stash, hooks, chunk, &Layer::backward);
}

Tensor Model::backward_input(const Tensor& dy, ModelStash& stash, int chunk) {
  return backward_pass(dy, stash, {}, chunk, &Layer::backward_input);
}

void Model::backward_weights(ModelStash& stash, const BackwardHooks& hooks, int chunk) {
  for (size_t i = chunk_end(chunk); i-- > chunks_.at(chunk).begin;) {
    if (hooks.before) hooks.before(i);
    traced("weights", *layers_[i], [&] {
      layers_[i]->backward_weights(stash[i]);
      return Tensor();
    });
    if (hooks.after) hooks.after(i);
  }
}

Tensor Model::backward_pass(const Tensor& dy, ModelStash& stash, const BackwardHooks& hooks,
                            int chunk, Tensor (Layer::*pass)(const Tensor&, Stash&)) {
  Tensor g = dy;
  for (size_t i = chunk_end(chunk); i-- > chunks_.at(chunk).begin;) {
    if (hooks.before) hooks.before(i);
    // Below the first layer with parameters no gradient is needed (g is undefined there).
    if (g.defined() && stash[i].replay) {
      const Tensor input = stash[i].tensors.at(0);
      const ForwardContext ctx = *stash[i].replay;
      stash[i] = Stash{};
      const layer_times::Recomputing recomputing;
      traced("recompute", *layers_[i], [&] { return layers_[i]->forward(input, stash[i], ctx); });
    }
    if (g.defined())
      g = traced("backward", *layers_[i], [&] { return (layers_[i].get()->*pass)(g, stash[i]); });
    if (hooks.after) hooks.after(i);
  }
  return g;
}

std::vector<Param*> Model::params() {
  std::vector<Param*> out;
  for (auto& l : layers_)
    for (Param* p : l->params()) out.push_back(p);
  return out;
}

size_t Model::last_writer(const Param* p, size_t owner) const {
  const auto user = tied_users_.find(p);
  return user == tied_users_.end() ? owner : std::max(owner, user->second);
}

int64_t Model::parameter_count() const {
  int64_t n = 0;
  for (const auto& l : layers_)
    for (const Param* p : l->params()) n += p->value.numel();
  return n;  // a tied parameter is counted once: only its owner lists it
}

// 256 bytes: the alignment cuBLAS and vector loads like, and what ZeRO shards round to.
constexpr int64_t kParamAlign = 256 / sizeof(float);

std::vector<int64_t> Model::flat_offsets(const std::vector<int64_t>& sizes, int64_t& total) {
  std::vector<int64_t> offsets;
  total = 0;
  for (int64_t n : sizes) {
    offsets.push_back((total + kParamAlign - 1) / kParamAlign * kParamAlign);
    total = offsets.back() + n;
  }
  return offsets;
}

void Model::to(Device device) {
  // Bucket buffers hold the gradients' offsets then: the layout must not move.
  if (grads_released_) throw std::logic_error("Model::to after release_grads");
  std::vector<Param*> order;  // reverse layer order, as backward completes them
  std::vector<int64_t> sizes;
  for (size_t i = layers_.size(); i-- > 0;)
    for (Param* p : layers_[i]->params()) {
      order.push_back(p);
      sizes.push_back(p->value.numel());
    }
  int64_t total = 0;
  const std::vector<int64_t> offsets = flat_offsets(sizes, total);
  for (size_t i = 0; i < order.size(); ++i) order[i]->offset = offsets[i];
  // Each parameter's own tensors are released as soon as they are copied, and their memory
  // returned to the OS, so placing a model needs little more than the model (not twice it).
  // The flat buffers are written in order, gaps zeroed, so their pages are touched as they fill.
  Tensor values = Tensor::empty({std::max<int64_t>(total, 1)}, DType::F32, device);
  Tensor grads = Tensor::empty({std::max<int64_t>(total, 1)}, DType::F32, device);
  int64_t filled = 0;
  auto zero_gap = [&](int64_t end) {
    if (end > filled) {
      values.view(filled, {end - filled}).zero();
      grads.view(filled, {end - filled}).zero();
    }
  };
  for (Param* p : order) {
    zero_gap(p->offset);
    Tensor v = values.view(p->offset, p->value.shape());
    v.copy_from(p->value);
    Tensor g = grads.view(p->offset, p->grad.shape());
    g.copy_from(p->grad);
    p->value = v;
    p->grad = g;
    p->compute = Tensor();  // it may hold the old value; refresh_compute_weights sets it again
    filled = p->offset + v.numel();
    host_cache_trim();
  }
  zero_gap(std::max<int64_t>(total, 1));
  compute_flat_ = Tensor();  // made again with the new offsets
  grads_ = grads;
  values_ = values;
  device_ = device;
  refresh_compute_weights();
}

const Tensor& Model::flat_grads() {
  if (!grads_.defined() && !grads_released_) to(device_);
  return grads_;
}

void Model::release_grads() {
  flat_grads();  // the values are placed first
  for (Param* p : params()) p->grad = Tensor();
  grads_ = Tensor();
  grads_released_ = true;
  host_cache_trim();  // the buffer's memory goes back to the OS, not to the idle cache
}

void Model::release_values() {
  if (compute_ == DType::F32) throw std::logic_error("Model::release_values in fp32");
  refresh_compute_weights();  // the copies take the values' last word
  for (Param* p : params()) p->value = Tensor();
  values_ = Tensor();
  values_released_ = true;
  host_cache_trim();
}

const Tensor& Model::restore_values() {
  values_ = Tensor::zeros({compute_flat_.numel()}, DType::F32, compute_flat_.device());
  for (Param* p : params()) p->value = values_.view(p->offset, p->compute.shape());
  values_released_ = false;
  return values_;
}

void Model::set_compute_dtype(DType dtype) {
  compute_ = dtype;
  refresh_compute_weights();
}

void Model::refresh_compute_weights() {
  if (values_released_) return;  // the ZeRO gather keeps the compute copies current
  // fp32 computes with the values themselves: the copies are re-pointed, nothing is read, so a
  // gather of the values may go on into the next forward.
  if (compute_ == DType::F32) {
    for (Param* p : params()) p->compute = p->value;
    compute_flat_ = values_;
    return;
  }
  wait_for_weights();        // a cast reads the values and writes the copies
  if (!values_.defined()) {  // unplaced (a model used before to(), in tests): copies of their own
    for (Param* p : params()) {
      if (!p->compute.defined() || p->compute.dtype() != compute_ ||
          p->compute.device() != p->value.device())
        p->compute = Tensor::empty(p->value.shape(), compute_, p->value.device());
      ops::cast_into(p->value, p->compute);
    }
    compute_flat_ = Tensor();
    return;
  }
  // Placed: the copies are one flat buffer with the values' offsets, cast in one pass.
  if (!compute_flat_.defined() || compute_flat_.dtype() != compute_ ||
      compute_flat_.device() != values_.device()) {
    compute_flat_ = Tensor::empty({values_.numel()}, compute_, values_.device());
    for (Param* p : params()) p->compute = compute_flat_.view(p->offset, p->value.shape());
  }
  ops::cast_into(values_, compute_flat_);
}

void Model::zero_grad() {
  if (grads_released_) return;
  if (grads_.defined()) return grads_.zero();  // one pass over the flat buffer
  for (Param* p : params()) p->grad.zero();
}

}  // namespace trainer
