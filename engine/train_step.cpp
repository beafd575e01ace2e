#include "engine/train_step.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "core/cpu/optim.h"
#include "core/layer_times.h"
#include "core/ops.h"
#include "core/optim/clip.h"
#include "core/trace.h"
#include "engine/vocab_parallel_loss.h"
#include "parallel/zero_master.h"

namespace trainer {

LossKind loss_kind(const std::string& name) {
  return name == "mse" ? LossKind::MSE : LossKind::CrossEntropy;
}

// The loss over every target: one per sample (labels (n)) or one per position (tokens (n, T),
// logits (n, T, V)), each target a row of logits; added into `totals` (on the logits' device:
// on a GPU nothing waits for the device until they are read).
static void apply_loss(const StageContext& stage, LossKind kind, const Tensor& logits,
                       const Tensor& labels, float grad_scale, Tensor& dlogits,
                       LossTotals& totals) {
  const int64_t rows = labels.numel(), classes = logits.numel() / std::max<int64_t>(rows, 1);
  const Tensor l = logits.reshape({rows, classes}), y = labels.reshape({rows});
  Tensor d = dlogits.defined() ? dlogits.reshape({rows, classes}) : Tensor();
  const VocabSplit& v = stage.vocab;
  if (v.group)
    vocab_parallel_cross_entropy(l, y, v.begin, *v.group, grad_scale, d, totals);
  else if (kind == LossKind::MSE)
    ops::mse(l, y, grad_scale, d, totals);
  else
    ops::cross_entropy(l, y, grad_scale, d, totals);
}

// The sums this rank counts (none off the last stage): over a split vocabulary every rank of the
// tensor group computes the same sums; they are counted on its rank 0 only.
static ops::LossSums counted_loss(const StageContext& stage, const LossTotals& totals) {
  return stage.executor.last() && stage.tensor.rank() == 0 ? totals.read() : ops::LossSums{};
}

// Rows [begin, end) of piece k (round x M + micro-batch) of this rank's rows.
static std::pair<int64_t, int64_t> piece_rows(const StepPlan& plan, int64_t k) {
  const int64_t rows = plan.rows_end - plan.rows_begin;
  const int64_t pieces = plan.grad_accum * plan.microbatches;
  return {plan.rows_begin + rows * k / pieces, plan.rows_begin + rows * (k + 1) / pieces};
}

// Fault injection: t's first element becomes `value` (on whichever device t is).
static void set_first_element(const Tensor& t, float value) {
  Tensor one = Tensor::empty({1});
  one.fill(value);
  t.view(0, {1}).copy_from(ops::cast(one, t.dtype()));
}

// The pieces' samples, loaded once each: with one stage, forward needs the inputs and the loss
// the labels of the same piece. Only the first stage loads inputs.
class MicrobatchData {
 public:
  MicrobatchData(DataLoader& loader, const StepPlan& plan, bool inputs)
      : loader_(loader), plan_(plan), inputs_(inputs) {}
  const Batch& get(int64_t k) {
    auto it = loaded_.find(k);
    if (it == loaded_.end()) {
      trace::Scope span("load batch");
      const auto [begin, end] = piece_rows(plan_, k);
      it = loaded_.emplace(k, loader_.load(plan_.epoch, plan_.batch, begin, end, inputs_)).first;
      if (plan_.poison_inputs && k == 0 && inputs_) set_first_element(it->second.x, std::nanf(""));
    }
    return it->second;
  }

 private:
  DataLoader& loader_;
  const StepPlan& plan_;
  bool inputs_;
  std::map<int64_t, Batch> loaded_;
};

using PieceData = std::function<const Batch&(int64_t k)>;

// Zeroes the gradients, then forward and backward of the step's pieces through the pipeline
// schedule, grad_accum rounds of M micro-batches, each piece's loss added into totals.
static void compute_gradients(const StageContext& stage, LossKind loss, const StepPlan& plan,
                              float grad_scale, const PieceData& piece, LossTotals& totals) {
  layer_times::timed_work("zero gradients", [&] { stage.model.zero_grad(); });
  layer_times::timed_work("weight cast", [&] { stage.model.refresh_compute_weights(); });
  for (int64_t round = 0; round < plan.grad_accum; ++round) {
    auto k = [&](int mb) { return round * plan.microbatches + mb; };
    MicrobatchSource source;
    source.rows = [&](int mb) {
      const auto [begin, end] = piece_rows(plan, k(mb));
      return end - begin;
    };
    source.context = [&](int mb) {
      return ForwardContext{true, plan.seed, static_cast<uint64_t>(plan.step),
                            piece_rows(plan, k(mb)).first};
    };
    source.input = [&](int mb) { return piece(k(mb)).x; };
    source.loss = [&](int mb, const Tensor& logits) {
      trace::Scope span("loss");
      Tensor dlogits = Tensor::empty(logits.shape(), logits.dtype(), logits.device());
      layer_times::timed_work("loss", [&] {
        apply_loss(stage, loss, logits, piece(k(mb)).y, grad_scale, dlogits, totals);
      });
      return dlogits;
    };
    stage.executor.run_step(plan.microbatches, source,
                            stage.reducer ? stage.reducer->hooks() : BackwardHooks{});
  }
}

// The tag of the tied-gradient exchange: above every micro-batch's (2 x micro-batch + 1).
constexpr int kSharedGradTag = 1 << 30;

// Sums each shared parameter's gradient with its peer stage's copy. Both ends compute a + b in
// float, which is commutative: the two copies get the same sum bit for bit and stay equal.
static void sum_shared_grads(const StageContext& stage) {
  for (const SharedParam& s : stage.shared) {
    trace::Scope span("sum tied gradient", trace::Track::Communication);
    const Tensor mine = s.param->grad.to(Device::cpu());  // sent from the host (MPI stages)
    Tensor theirs = Tensor::empty(mine.shape());
    std::unique_ptr<Work> sent = stage.pipeline.send_async(
        mine.raw(), static_cast<int64_t>(mine.bytes()), s.peer_stage, kSharedGradTag);
    stage.pipeline.recv(theirs.raw(), static_cast<int64_t>(theirs.bytes()), s.peer_stage,
                        kSharedGradTag);
    sent->wait();
    ops::add(s.param->grad, theirs.to(s.param->grad.device()), s.param->grad);
  }
}

// Where p's gradient lies in the gradients of `range` (held in `grads`, which start at
// range.begin): possibly none or a part of it.
static Tensor grad_in(const Tensor& grads, FlatRange range, const Param& p) {
  const FlatRange in = overlap(range, {p.offset, p.offset + p.compute.numel()});
  return in.empty() ? Tensor() : grads.view(in.begin - range.begin, {in.size()});
}

// Sequence parallelism: a layer norm's gradient on each tensor rank covers that rank's rows; the
// group sums them (after the data ranks' reduction, a sum too: the order does not matter), in
// this rank's range of the gradients (under ZeRO the tensor ranks' ranges are alike: their flat
// layouts are).
static void sum_partial_grads(const StageContext& stage, const Tensor& grads, FlatRange range) {
  if (stage.tensor.size() == 1) return;
  for (const Param* p : stage.model.params()) {
    const Tensor part = p->grad_partial ? grad_in(grads, range, *p) : Tensor();
    if (!part.defined()) continue;
    trace::Scope span("sum layer norm gradient", trace::Track::Communication);
    stage.tensor.all_reduce(part.f32(), part.numel(), ReduceOp::Sum);
  }
}

// The squares of the gradients in `range` (held in `grads`), each parameter counted once over
// the whole job: a shared parameter on one stage only, a parameter the tensor group replicates
// on its rank 0 only. The stages', data ranks' and tensor ranks' sums add up to the whole
// model's.
static double owned_sum_squares(const StageContext& stage, const Tensor& grads, FlatRange range) {
  double sq = grad_sum_squares(grads);
  auto uncount = [&](const Param& p) {
    if (const Tensor part = grad_in(grads, range, p); part.defined()) sq -= grad_sum_squares(part);
  };
  for (const SharedParam& s : stage.shared)
    if (!s.counted_here) uncount(*s.param);
  if (stage.tensor.rank() > 0)
    for (const Param* p : stage.model.params())
      if (!p->split.split()) uncount(*p);
  return std::max(sq, 0.0);  // rounding aside; a NaN stays NaN
}

Tensor update_decision_buffer(Device device) {
  static_assert(sizeof(cpu::UpdateDecision) % 4 == 0);
  return Tensor::zeros({sizeof(cpu::UpdateDecision) / 4}, DType::I32, device);
}

static const cpu::UpdateDecision* decision_in(const Tensor& decision) {
  return static_cast<const cpu::UpdateDecision*>(decision.raw());
}

// The update as decided (`decision`, where the gradients are, read when each pass runs): the
// loss scale off and the clip, each a pass over the gradients by its factor, then the
// optimizer's update, which the decision's skip makes nothing.
static void apply_update(const StageContext& stage, Optimizer& opt, Tensor grads,
                         const StepPlan& plan) {
  trace::Scope span("optimizer step");
  const cpu::UpdateDecision* d = decision_in(stage.decision);
  layer_times::timed_work("update", [&] {
    if (stage.scaler.active()) ops::scale_by(grads, &d->unscale);
    if (plan.clip_grad_norm > 0.0) ops::scale_by(grads, &d->clip);
    opt.apply(&d->skip);
  });
}

// One process's step after its gradients: the decision on the device from the loss and the
// gradients' squares, then the update, all queued without waiting (and so fit for a graph).
static void decide_and_update(const StageContext& stage, Optimizer& opt, const StepPlan& plan,
                              double unscale, const LossTotals& totals) {
  Tensor grads = stage.model.flat_grads();
  // As an fp16 overflow would make one.
  if (plan.inf_gradient) set_first_element(grads, INFINITY);
  Tensor decision = stage.decision;
  layer_times::timed_work("update decision", [&] {
    ops::decide_update(grads, totals, unscale, plan.clip_grad_norm, decision);
  });
  apply_update(stage, opt, grads, plan);
}

// What the host makes of one process's decision, read back once at the step's end with the
// step's loss sums (the update itself was skipped on the device where it had to be).
static StepResult finish_decided_step(const StageContext& stage, Optimizer& opt,
                                      const StepPlan& plan) {
  StepResult r;
  cpu::UpdateDecision d;
  stage.decision.copy_to_host(&d, sizeof d);
  r.loss_sum = d.loss_sums[0];
  r.correct = static_cast<int64_t>(d.loss_sums[1]);
  r.stop_signal = plan.stop_signal;
  const bool finite_grads = std::isfinite(d.sq);
  if (!d.loss_finite || (!finite_grads && !stage.scaler.active())) {
    r.nonfinite_rank = 0;
    r.nonfinite_gradient = d.loss_finite != 0;
    return r;
  }
  if (!stage.scaler.update(!finite_grads, plan.step + 1)) {
    r.overflowed = true;
    return r;
  }
  if (plan.clip_grad_norm > 0.0) r.grad_norm = d.grad_norm;
  opt.finish(true);
  return r;
}

StepResult train_step(const StageContext& stage, Optimizer& opt, DataLoader& loader, LossKind loss,
                      const StepPlan& plan) {
  StepResult r;
  const int64_t pieces = plan.grad_accum * plan.microbatches;
  if (stage.reducer) stage.reducer->begin_step(pieces);
  LossScaler& scaler = stage.scaler;
  const double targets = static_cast<double>(plan.global_batch * plan.targets_per_sample);
  const float grad_scale = static_cast<float>(scaler.scale() / targets);
  // The scale the gradients carry comes off before clipping and the update.
  const double unscale = scaler.active() ? 1.0 / (grad_scale * targets) : 1.0;
  // One process decides its update on the device; several agree on the host (below).
  const bool decided_here = stage.world.size() == 1;
  if (decided_here) opt.prepare(plan.lr);
  MicrobatchData data(loader, plan, stage.executor.first());
  // Through the step's CUDA graph (train.cuda_graph: one process), which reads its own copies of
  // the pieces and holds the whole step, update included; eagerly where it declines (a shape's
  // first step), without one, or with faults injected.
  const LossTotals* totals = nullptr;
  if (stage.graph && !plan.poison_inputs && !plan.inf_gradient) {
    std::vector<Batch> all;
    for (int64_t k = 0; k < pieces; ++k) all.push_back(data.get(k));
    totals = stage.graph->run(all, grad_scale, [&](const std::vector<Batch>& in, LossTotals& t) {
      compute_gradients(
          stage, loss, plan, grad_scale,
          [&](int64_t k) -> const Batch& { return in.at(static_cast<size_t>(k)); }, t);
      decide_and_update(stage, opt, plan, unscale, t);
    });
    if (totals) return finish_decided_step(stage, opt, plan);
  }
  LossTotals eager_totals(stage.model.device());
  compute_gradients(
      stage, loss, plan, grad_scale, [&](int64_t k) -> const Batch& { return data.get(k); },
      eager_totals);
  if (decided_here) {
    decide_and_update(stage, opt, plan, unscale, eager_totals);
    return finish_decided_step(stage, opt, plan);
  }
  if (stage.reducer)
    stage.reducer->finish([&] { sum_shared_grads(stage); });
  else
    sum_shared_grads(stage);
  // Every step checks its gradients in one pass (a non-finite gradient with a finite loss must
  // not reach the weights in any precision); clipping uses the same sum.
  // The gradients this rank checks, unscales, clips and updates: all of them, or its ZeRO range.
  const bool zero = stage.zero.on();
  Tensor grads = zero ? stage.zero.grads : stage.model.flat_grads();
  const FlatRange mine = zero ? stage.zero.mine : FlatRange{0, grads.numel()};
  sum_partial_grads(stage, grads, mine);
  // As an fp16 overflow would make one (in this rank's range, which this rank checks).
  if (plan.inf_gradient) set_first_element(grads, INFINITY);
  const double sq = owned_sum_squares(stage, grads, mine);
  // Read once, after backward: the micro-batches' losses were queued without waiting.
  const ops::LossSums sums = counted_loss(stage, eager_totals);
  r.loss_sum = sums.loss;
  r.correct = sums.correct;
  // One small all-reduce tells every rank, before any weight changes, whether some rank's loss
  // or gradients are not finite (the lowest such rank wins the MAX) and whether a stop was
  // asked: data and pipeline ranks alike then skip the same step.
  Communicator& world = stage.world;
  const int64_t me = world.size() - world.rank();
  int64_t flags[3] = {std::isfinite(r.loss_sum) ? 0 : me, plan.stop_signal,
                      std::isfinite(sq) ? 0 : me};
  world.all_reduce(flags, 3, ReduceOp::Max);
  r.stop_signal = static_cast<int>(flags[1]);
  if (flags[0] != 0 || (flags[2] != 0 && !scaler.active())) {
    r.nonfinite_rank = static_cast<int>(world.size() - (flags[0] != 0 ? flags[0] : flags[2]));
    r.nonfinite_gradient = flags[0] == 0;
    return r;
  }
  // Under loss scaling a non-finite gradient is an overflow: the step is skipped, the scale cut.
  if (!scaler.update(flags[2] != 0, plan.step + 1)) {
    r.overflowed = true;
    return r;
  }
  // Clipping takes the whole model's norm (every pipeline stage's, every ZeRO range's).
  double total = sq;
  if (plan.clip_grad_norm > 0.0) {
    if (zero) stage.data.all_reduce(&total, 1, ReduceOp::Sum);
    stage.pipeline.all_reduce(&total, 1, ReduceOp::Sum);
    stage.tensor.all_reduce(&total, 1, ReduceOp::Sum);
  }
  // The same decision one process makes on the device (finite here: checked above).
  const cpu::UpdateDecision d = cpu::update_decision(total, 0.0, unscale, plan.clip_grad_norm);
  if (plan.clip_grad_norm > 0.0) r.grad_norm = d.grad_norm;
  Tensor decision = stage.decision;  // a handle: the copy goes into the step's buffer
  decision.copy_from_host(&d, sizeof d);
  opt.prepare(plan.lr);
  apply_update(stage, opt, grads, plan);
  opt.finish(true);
  if (zero && stage.zero.master.defined())
    publish_master_range(stage.model, stage.zero, *stage.reducer);
  else if (zero)
    stage.reducer->start_gather(stage.model.flat_values());
  return r;
}

EvalResult evaluate_shard(const StageContext& stage, DataLoader& loader, LossKind loss, int shard,
                          int shards) {
  EvalResult r;
  Tensor no_grad;
  LossTotals totals(stage.model.device());
  stage.model.refresh_compute_weights();
  for (int64_t b = 0; b < loader.batches_per_epoch(); ++b) {
    const int64_t rows = loader.batch_rows(b);
    const int64_t begin = rows * shard / shards, end = rows * (shard + 1) / shards;
    if (begin == end) continue;
    StepPlan shard_rows;  // this shard's rows of batch b, in one piece
    shard_rows.batch = b;
    shard_rows.rows_begin = begin;
    shard_rows.rows_end = end;
    MicrobatchData data(loader, shard_rows, stage.executor.first());
    MicrobatchSource source;
    source.rows = [&](int) { return end - begin; };
    source.context = [](int) { return ForwardContext{false, 0, 0, 0}; };
    source.input = [&](int) { return data.get(0).x; };
    source.loss = [&](int, const Tensor& logits) {
      const Batch& batch = data.get(0);
      apply_loss(stage, loss, logits, batch.y, 1.0f, no_grad, totals);
      if (stage.tensor.rank() == 0) r.samples += batch.y.numel();
      return Tensor();
    };
    stage.executor.run_forward(source);
  }
  const ops::LossSums sums = counted_loss(stage, totals);
  r.loss_sum = sums.loss;
  r.correct = sums.correct;
  return r;
}

}  // namespace trainer
