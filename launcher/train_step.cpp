#include "launcher/train_step.h"

#include "core/ops.h"
#include "core/optim/clip.h"
#include "core/trace.h"

namespace trainer {

LossKind loss_kind(const std::string& name) {
  return name == "mse" ? LossKind::MSE : LossKind::CrossEntropy;
}

static ops::LossSums apply_loss(LossKind kind, const Tensor& logits, const Tensor& labels,
                                float grad_scale, Tensor& dlogits) {
  return kind == LossKind::MSE ? ops::mse(logits, labels, grad_scale, dlogits)
                               : ops::cross_entropy(logits, labels, grad_scale, dlogits);
}

StepResult train_step(Model& model, Optimizer& opt, DataLoader& loader, LossKind loss,
                      const StepPlan& plan, GradReducer* reducer) {
  model.zero_grad();
  StepResult r;
  ModelStash stash;
  const int64_t rows = plan.rows_end - plan.rows_begin;
  const float grad_scale = 1.0f / static_cast<float>(plan.global_batch);
  for (int64_t c = 0; c < plan.chunks; ++c) {
    const int64_t begin = plan.rows_begin + rows * c / plan.chunks;
    const int64_t end = plan.rows_begin + rows * (c + 1) / plan.chunks;
    Batch b = [&] {
      trace::Scope span("load batch");
      return loader.load(plan.epoch, plan.batch, begin, end);
    }();
    const ForwardContext ctx{true, plan.seed, static_cast<uint64_t>(plan.step), begin};
    Tensor logits = model.forward(b.x, stash, ctx);  // (n, classes)
    Tensor dlogits = Tensor::empty(logits.shape());
    const ops::LossSums s = apply_loss(loss, logits, b.y, grad_scale, dlogits);
    r.loss_sum += s.loss;
    r.correct += s.correct;
    const bool communicate = reducer && c + 1 == plan.chunks;
    model.backward(dlogits, stash,
                   communicate ? [reducer](size_t i) { reducer->layer_done(i); }
                               : std::function<void(size_t)>());
  }
  if (reducer) reducer->finish();
  trace::Scope span("optimizer step");
  if (plan.clip_grad_norm > 0.0) {
    const std::vector<Param*> params = model.params();
    r.grad_norm = global_grad_norm(params);
    clip_to_norm(params, r.grad_norm, plan.clip_grad_norm);
  }
  opt.step(plan.lr);
  return r;
}

EvalResult evaluate_shard(Model& model, DataLoader& loader, LossKind loss, int shard, int shards) {
  EvalResult r;
  ModelStash stash;
  const ForwardContext ctx{false, 0, 0, 0};
  Tensor no_grad;
  for (int64_t b = 0; b < loader.batches_per_epoch(); ++b) {
    const int64_t rows = loader.batch_rows(b);
    const int64_t begin = rows * shard / shards, end = rows * (shard + 1) / shards;
    if (begin == end) continue;
    Batch batch = loader.load(0, b, begin, end);
    Tensor logits = model.forward(batch.x, stash, ctx);
    const ops::LossSums s = apply_loss(loss, logits, batch.y, 1.0f, no_grad);
    r.loss_sum += s.loss;
    r.correct += s.correct;
    r.samples += batch.y.numel();
  }
  return r;
}

}  // namespace trainer
