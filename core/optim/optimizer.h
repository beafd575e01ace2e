// Optimizers update parameters from their accumulated gradients, keeping their own state.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/args.h"
#include "core/layers/layer.h"
#ifdef TRAINER_HAS_CUDA
#include "core/cuda/optim.cuh"
#endif

namespace trainer {

class Optimizer {
 public:
  explicit Optimizer(std::vector<Param*> params) : params_(std::move(params)) {}
  virtual ~Optimizer() = default;
  // One update at learning rate lr from the parameters' gradients.
  void step(float lr) {
    prepare(lr);
    apply(nullptr);
    finish(true);
  }
  // A training step's update in three parts. prepare: this step's constants (learning rate,
  // bias corrections) put where the update reads them, before the step's work is queued (and
  // outside a CUDA graph, whose replays read them there). apply: queues the update, which does
  // nothing when *skip (an int in the parameters' memory, decided by the step; null: never).
  // finish: once the step's decision is known on the host, an applied update counts.
  virtual void prepare(float lr) = 0;
  virtual void apply(const int32_t* skip) = 0;
  void finish(bool applied) { steps_ += applied ? 1 : 0; }
  // Named state tensors, for checkpoints ("<param name>.<state>").
  virtual std::vector<std::pair<std::string, Tensor*>> state() = 0;
  int64_t steps_taken() const { return steps_; }
  void set_steps_taken(int64_t s) { steps_ = s; }

  // Note [flat optimizer state]: each kind of state ("exp_avg", ...) is one flat f32 buffer
  // that mirrors a range of the model's flat parameter buffer, starting at flat_begin(): a
  // parameter's state sits at its flat offset less flat_begin(), alignment gaps hold zeros. The
  // optimizer of the whole model covers all of it; a ZeRO shard's covers the shard's range only.
  // So checkpoints can be read back into any other split of the same model.
  const std::vector<std::pair<std::string, Tensor>>& flat_state() const { return flat_state_; }
  int64_t flat_begin() const { return flat_begin_; }

 protected:
  // The per-parameter views of a new zeroed flat state buffer called `name` (see the note; the
  // parameters are packed in order when they have no flat place yet).
  std::vector<Tensor> make_state(const std::string& name);
  // Parameters live on one device: the model's.
  bool on_gpu() const { return !params_.empty() && !params_[0]->value.device().is_cpu(); }
  // `c` copied into a buffer of this optimizer's where the parameters are, made once (its
  // address is what a CUDA graph's update reads); returns the copy.
  template <class T>
  const T* put_constants(const T& c) {
    return static_cast<const T*>(put_constant_bytes(&c, sizeof(T)));
  }
#ifdef TRAINER_HAS_CUDA
  // The parameters with up to two state tensors each (empty: none), for a fused GPU update.
  cuda::ParamGroup param_group(const std::vector<Tensor>& state1,
                               const std::vector<Tensor>& state2 = {}) const;
#endif
  std::vector<Param*> params_;
  int64_t steps_ = 0;

 private:
  const void* put_constant_bytes(const void* bytes, size_t size);
  std::vector<std::pair<std::string, Tensor>> flat_state_;
  int64_t flat_begin_ = 0;
  Tensor constants_;
};

// The config's optimizer section, by its `type` key (sgd, adam, adamw). The learning rate is
// read by the LR schedule; factories read the rest.
std::unique_ptr<Optimizer> make_optimizer(const std::string& type, Args& args,
                                          std::vector<Param*> params);
std::vector<std::string> optimizer_types();

}  // namespace trainer
