#include "launcher/training.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <string>
#include <vector>

#include "core/allocator.h"
#include "core/cpu/parallel.h"
#include "core/data/loader.h"
#include "core/layer_times.h"
#include "core/layers/lm_head.h"
#include "core/trace.h"
#include "engine/train_step.h"
#include "launcher/checkpointing.h"
#include "launcher/device.h"
#include "launcher/fault_injection.h"
#include "launcher/mfu.h"
#include "launcher/model_io.h"
#include "launcher/progress.h"
#include "launcher/run_files.h"
#include "launcher/stop_signal.h"
#include "parallel/pipeline_executor.h"
#include "parallel/replica_check.h"
#include "parallel/zero_master.h"

namespace trainer {

using Clock = std::chrono::steady_clock;

static double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

namespace {
// Training loss and throughput accumulated between two metrics records.
struct Window {
  double loss_sum = 0.0;
  int64_t steps = 0, samples = 0;
  double train_s = 0.0;
  void add(double loss, int64_t n, double s) {
    loss_sum += loss;
    ++steps;
    samples += n;
    train_s += s;
  }
  double loss() const { return steps ? loss_sum / static_cast<double>(steps) : 0.0; }
  double samples_per_s() const {
    return train_s > 0 ? static_cast<double>(samples) / train_s : 0.0;
  }
  double step_ms() const { return steps ? 1e3 * train_s / static_cast<double>(steps) : 0.0; }
};
}  // namespace

// The bytes of weights this rank holds while training: the f32 master values (its ZeRO range
// only, when sharded in mixed precision) and the 16-bit compute copies.
static int64_t held_weight_bytes(const RunSetup& run) {
  const Model& m = *run.model;
  const int64_t compute =
      m.compute_dtype() == DType::F32 ? 0 : static_cast<int64_t>(m.flat_compute().bytes());
  const Tensor& master = run.zero.master.defined() ? run.zero.master : m.flat_values();
  return static_cast<int64_t>(master.bytes()) + compute;
}

// One figure of every rank, in rank order.
static std::vector<int64_t> per_rank(Communicator& world, int64_t mine) {
  std::vector<int64_t> all(static_cast<size_t>(world.size()));
  world.all_gather(&mine, sizeof mine, all.data());
  return all;
}

// Every rank's `mine`, in rank order, on every rank: the texts gathered padded to the longest.
static std::vector<nlohmann::json> per_rank(Communicator& world, const nlohmann::json& mine) {
  const std::string text = mine.dump();
  const std::vector<int64_t> sizes = per_rank(world, static_cast<int64_t>(text.size()));
  const int64_t longest = *std::max_element(sizes.begin(), sizes.end());
  std::string padded = text, all(static_cast<size_t>(longest * world.size()), ' ');
  padded.resize(static_cast<size_t>(longest), ' ');
  world.all_gather(padded.data(), longest, all.data());
  std::vector<nlohmann::json> out;
  for (int r = 0; r < world.size(); ++r)
    out.push_back(nlohmann::json::parse(
        all.substr(static_cast<size_t>(r * longest), static_cast<size_t>(sizes[r]))));
  return out;
}

// The bytes of the optimizer's state this rank holds (its ZeRO range only, under ZeRO).
static int64_t held_state_bytes(const Optimizer& opt) {
  int64_t bytes = 0;
  for (const auto& [kind, flat] : opt.flat_state()) bytes += static_cast<int64_t>(flat.bytes());
  return bytes;
}

nlohmann::json train(RunSetup& run, int64_t start_step, FILE* log, Clock::time_point started,
                     ProcessGrid* grid_or_null) {
  defer_stop_signals();  // from here a SIGTERM checkpoints at the next step boundary
  ProcessGrid single;
  if (!grid_or_null) single = ProcessGrid::single();
  ProcessGrid& grid = grid_or_null ? *grid_or_null : single;
  const bool root = grid.world->rank() == 0;  // writes files, progress and checkpoints
  const Config& c = run.cfg;
  const LossKind loss = loss_kind(c.loss);
  std::optional<RunFiles> files;
  if (root) files.emplace(c, start_step);
  std::optional<GradReducer> reducer;
  std::vector<Param*> held;  // tied parameters, whose gradients wait for the other stage's
  for (const SharedParam& s : run.shared) held.push_back(s.param);
  if (grid.data_size > 1) reducer.emplace(*grid.data, *run.model, c.bucket_mb, held, run.zero);
  PipelineExecutor executor(*run.model, *grid.pipeline, grid.stage, grid.pipeline_size,
                            schedule_kind(c.schedule), c.lookahead);
  // Tensor parallelism: the split layers' collectives go over the grid's tensor group, and the
  // last stage's head gives its slice of the vocabulary's logits.
  VocabSplit vocab;
  if (run.tensor_group) {
    run.tensor_group->bind(*grid.tensor);
    if (auto* head = dynamic_cast<LmHead*>(&run.model->layer(run.model->size() - 1)))
      vocab = {run.tensor_group.get(), head->vocab_begin()};
  }
  std::optional<StepGraph> graph;
  if (run.graph_recorder) graph.emplace(std::move(run.graph_recorder));
  bool graph_failure_said = false;
  const StageContext stage{*run.model,
                           executor,
                           *grid.pipeline,
                           *grid.world,
                           reducer ? &*reducer : nullptr,
                           run.scaler,
                           run.shared,
                           run.zero,
                           *grid.data,
                           *grid.tensor,
                           vocab,
                           graph ? &*graph : nullptr,
                           update_decision_buffer(run.model->device())};
  check_replicas(*grid.data, *run.model, start_step);
  // ZeRO in mixed precision: from here each rank keeps the f32 master values of its range only;
  // the whole values exist again only while a checkpoint is written, and when training ends.
  const bool master_sharded = run.zero.master.defined();
  if (master_sharded) keep_master_range(*run.model, run.zero);
  // Right after a barrier, so that the ranks' timelines share their origin (a pipeline of one
  // replica has had no collective yet: its stages' origins were milliseconds apart).
  if (c.trace) grid.world->barrier();
  trace::enable(c.trace);
  const Device device = run.model->device();
  layer_times::enable(c.layer_times, !device.is_cpu());
  DataLoader train_loader(*run.train, c.batch_size, c.shuffle, c.seed, device);
  // Token data: the loss is per token, and throughput is counted in tokens too.
  const int64_t targets_per_sample = shape_numel(run.train->target_shape());
  const bool tokens = run.train->input_dtype() == DType::I32;
  std::optional<DataLoader> test_loader;
  if (run.test) test_loader.emplace(*run.test, c.batch_size, /*shuffle=*/false, c.seed, device);
  Progress progress(run.total_steps, c.log_every, root ? log : nullptr);
  std::optional<MfuBasis> mfu;
  if (tokens) {
    mfu = mfu_basis(run, grid.world->size(), cpu::threads());
    progress.count_tokens(targets_per_sample, *mfu);
    progress.note("MFU against " + mfu->peak_source);
  }

  nlohmann::json last_eval = nlohmann::json::object();
  auto run_eval = [&](int64_t step, int64_t epoch) {
    EvalResult e = evaluate_shard(stage, *test_loader, loss, grid.data_rank, grid.data_size);
    // Only last stages hold sums: over the world they add up the data-parallel shards.
    double sums[3] = {e.loss_sum, static_cast<double>(e.correct), static_cast<double>(e.samples)};
    grid.world->all_reduce(sums, 3, ReduceOp::Sum);
    e = {sums[0], static_cast<int64_t>(sums[1]), static_cast<int64_t>(sums[2])};
    const double test_loss = e.loss_sum / static_cast<double>(e.samples);
    last_eval = {
        {"test_loss", test_loss},
        {"test_accuracy", static_cast<double>(e.correct) / static_cast<double>(e.samples)}};
    if (tokens) last_eval["test_perplexity"] = std::exp(test_loss);
    char ppl[48] = "";
    if (tokens) std::snprintf(ppl, sizeof ppl, " per token, perplexity %.3f", std::exp(test_loss));
    char buf[160];
    std::snprintf(buf, sizeof buf,
                  "eval after step %lld (epoch %lld): test loss %.4f%s, accuracy %.2f%%",
                  static_cast<long long>(step + 1), static_cast<long long>(epoch + 1), test_loss,
                  ppl, 100.0 * last_eval["test_accuracy"].get<double>());
    progress.note(buf);
    // One process's stage holds the whole model: rank 0 samples alone, the others go on to the
    // next step's collectives and wait there.
    if (root && tokens && c.sample_tokens > 0 && grid.pipeline_size == 1) {
      const std::string sample =
          sample_text(run, {c.sample_prompt, c.sample_tokens, 0.8, c.sample_tokenizer, ""});
      progress.note("sample: " + sample);
      files->append_text("sample", step + 1, sample);
    }
  };

  Window window;
  double train_s = 0.0, final_loss = std::nan("");
  int64_t trained_samples = 0, skipped_steps = 0;
  for (int64_t step = start_step; step < run.total_steps; ++step) {
    inject_faults(grid.world->rank(), step);
    const int64_t epoch = step / run.steps_per_epoch, batch = step % run.steps_per_epoch;
    StepPlan plan;
    plan.step = step;
    plan.epoch = epoch;
    plan.batch = batch;
    plan.global_batch = c.batch_size;
    plan.targets_per_sample = targets_per_sample;
    plan.rows_begin = c.batch_size * grid.data_rank / grid.data_size;
    plan.rows_end = c.batch_size * (grid.data_rank + 1) / grid.data_size;
    plan.grad_accum = c.grad_accum;
    plan.microbatches = static_cast<int>(c.microbatches);
    plan.seed = c.seed;
    plan.lr = static_cast<float>(c.lr.at(step));
    plan.clip_grad_norm = c.clip_grad_norm;
    plan.stop_signal = stop_signal();
    plan.poison_inputs = poison_inputs(grid.world->rank(), step);
    plan.inf_gradient = inf_gradient(grid.world->rank(), step);

    layer_times::begin_step();
    const auto t0 = Clock::now();
    const StepResult r = train_step(stage, *run.optimizer, train_loader, loss, plan);
    if (graph && !graph->failure().empty() && !graph_failure_said) {
      progress.note("train.cuda_graph: the step could not be captured (" + graph->failure() +
                    "); it runs eagerly");
      graph_failure_said = true;
    }
    // The loss of the global batch (summed from the last stages): every rank gets it, so every
    // rank stops on the same step.
    double loss_sum = r.loss_sum;
    grid.world->all_reduce(&loss_sum, 1, ReduceOp::Sum);
    const double dt = seconds_since(t0);
    layer_times::step_done(dt);
    if (trace::enabled()) {
      trace::span("step " + std::to_string(step + 1), trace::Track::Compute, t0, Clock::now());
      // A timeline grows with every step: it keeps the first log.trace_steps of them.
      if (step + 1 - start_step >= c.trace_steps) trace::pause();
    }
    if (r.nonfinite_rank >= 0) {
      const int bad = r.nonfinite_rank;
      const GridPlace at = place_of(bad, grid.pipeline_size, grid.tensor_size);
      const std::string where =
          "at step " + std::to_string(step + 1) + " (epoch " + std::to_string(epoch + 1) +
          ") on rank " + std::to_string(bad) + " (pipeline stage " + std::to_string(at.stage) +
          ", data-parallel rank " + std::to_string(at.data_rank) +
          (grid.tensor_size > 1 ? ", tensor rank " + std::to_string(at.tensor_rank) : "") + ")";
      const std::string what = r.nonfinite_gradient ? "a gradient is not finite (the loss is) "
                                                    : "the training loss is not finite ";
      if (c.on_nonfinite == "stop")
        throw TrainingError(what + where +
                            "; lower optimizer.lr, set train.clip_grad_norm, or skip such steps "
                            "with train.on_nonfinite: skip");
      ++skipped_steps;
      progress.note("step " + std::to_string(step + 1) + " skipped: " + what + where);
    } else {
      // An overflowed step keeps its (finite) loss in the record; only its update was skipped.
      skipped_steps += r.overflowed;
      final_loss = loss_sum / static_cast<double>(c.batch_size * targets_per_sample);
      window.add(final_loss, c.batch_size, dt);
      train_s += dt;
      trained_samples += c.batch_size;
    }
    progress.update(step, epoch, window.loss(), window.samples_per_s());

    const bool last = step + 1 == run.total_steps;
    const bool epoch_end = batch + 1 == run.steps_per_epoch;
    const bool eval_now =
        test_loader &&
        (last || (epoch_end && c.eval_every_epochs > 0 && (epoch + 1) % c.eval_every_epochs == 0));
    if (eval_now) run_eval(step, epoch);
    if ((step + 1) % c.log_every == 0 || last || eval_now) {
      nlohmann::json record = {
          {"step", step + 1},
          {"epoch", static_cast<double>(step + 1) / static_cast<double>(run.steps_per_epoch)},
          {"loss", window.loss()},
          {"lr", c.lr.at(step)},
          {"samples_per_s", window.samples_per_s()},
          {"step_ms", window.step_ms()}};
      if (tokens) {
        const double tokens_per_s =
            window.samples_per_s() * static_cast<double>(targets_per_sample);
        record["tokens_per_s"] = tokens_per_s;
        if (mfu->peak_flops > 0) record["mfu"] = mfu->mfu(tokens_per_s);
      }
      if (c.clip_grad_norm > 0.0) record["grad_norm"] = r.grad_norm;
      if (skipped_steps > 0) record["skipped_steps"] = skipped_steps;
      if (run.scaler.active()) record["loss_scale"] = run.scaler.scale();
      if (reducer) {
        record["buckets"] = reducer->buckets();
        record["buckets_deferred"] = reducer->deferred();
        record["buckets_overlapped"] = reducer->completed_before_backward_end();
      }
      if (eval_now) record.update(last_eval);
      if (files) files->append_metrics(record);
      window = Window();
    }
    std::string saved;
    const bool save_for_stop = r.stop_signal != 0 && c.checkpoint_on_signal;
    if (last || save_for_stop || (c.checkpoint_every > 0 && (step + 1) % c.checkpoint_every == 0)) {
      if (master_sharded) gather_master(*run.model, run.zero, *reducer);
      saved = save_run_checkpoint(run, step + 1, grid);
      if (master_sharded && !last) run.model->release_values();
      progress.note("checkpoint " + saved);
    }
    if (r.stop_signal != 0 && !last) {
      progress.finish();
      throw StopRequested(
          r.stop_signal,
          std::string(r.stop_signal == SIGINT ? "SIGINT" : "SIGTERM") + ": stopped after step " +
              std::to_string(step + 1) + " of " + std::to_string(run.total_steps) +
              (save_for_stop ? "; checkpoint " + saved + "; continue with --resume auto"
                             : " without a checkpoint (checkpoint.on_signal: false)"));
    }
    if (c.replica_check_steps > 0 && (step + 1) % c.replica_check_steps == 0)
      check_replicas(*grid.data, *run.model, step + 1);
  }
  progress.finish();
  run.model->wait_for_weights();  // the caller reads them
  if (run.model->values_released()) gather_master(*run.model, run.zero, *reducer);
  if (c.trace) {
    const std::filesystem::path dir = std::filesystem::path(c.out_dir) / "trace";
    std::filesystem::create_directories(dir);
    trace::write((dir / ("rank" + std::to_string(grid.world->rank()) + ".json")).string(),
                 grid.world->rank());
    trace::enable(false);
  }

  nlohmann::json summary = {
      {"steps", run.total_steps},
      {"resumed_from_step", start_step},
      {"epochs", static_cast<double>(run.total_steps) / static_cast<double>(run.steps_per_epoch)},
      {"final_loss", std::isnan(final_loss) ? nlohmann::json() : nlohmann::json(final_loss)},
      {"test_accuracy", last_eval.value("test_accuracy", nlohmann::json())},
      {"test_loss", last_eval.value("test_loss", nlohmann::json())},
      {"train_samples_per_s", train_s > 0 ? static_cast<double>(trained_samples) / train_s : 0.0},
      {"train_s", train_s},
      {"skipped_steps", skipped_steps},
      {"wall_s", seconds_since(started)},
      {"parameters", total_parameters(run)},
      // Per rank: the most activation bytes held for backward at once, the weights, the
      // optimizer's state and the gradients held while training, and the process's peak
      // resident memory (the operating system's count).
      {"peak_activation_bytes", per_rank(*grid.world, executor.peak_stash_bytes())},
      {"weight_bytes", per_rank(*grid.world, held_weight_bytes(run))},
      {"optimizer_state_bytes", per_rank(*grid.world, held_state_bytes(*run.optimizer))},
      {"gradient_bytes",
       per_rank(*grid.world, reducer ? reducer->peak_gradient_bytes()
                                     : static_cast<int64_t>(run.model->flat_grads().bytes()))},
      {"peak_resident_bytes", per_rank(*grid.world, peak_resident_bytes())},
      {"world", grid.world->size()},
      {"layout",
       {{"data", grid.data_size}, {"pipeline", grid.pipeline_size}, {"tensor", grid.tensor_size}}},
      {"device", c.device},
      {"precision", c.compute},
      {"loss_scale", run.scaler.scale()},
      {"communicator", grid.data_size > 1 ? c.communicator : "none"},
  };
  if (c.device == "cuda") summary["gpu"] = gpu_name(c.gpu);
  if (c.layer_times) {
    // Rank 0's layers; with more ranks every rank's too (a pipeline's stages hold other layers).
    summary["layer_times"] = layer_times::summary();
    if (grid.world->size() > 1)
      summary["layer_times_by_rank"] = per_rank(*grid.world, summary["layer_times"]);
    layer_times::enable(false, false);
  }
  if (graph) {
    summary["graph"] = {{"captures", graph->captures()}, {"replays", graph->replays()}};
    if (!graph->failure().empty()) summary["graph"]["failure"] = graph->failure();
  }
  if (mfu) {
    const double tokens_per_s =
        summary["train_samples_per_s"].get<double>() * static_cast<double>(targets_per_sample);
    summary["train_tokens_per_s"] = tokens_per_s;
    summary["model_flops_per_token"] = mfu->flops_per_token;
    summary["peak_flops"] = mfu->peak_flops;
    summary["peak"] = mfu->peak_source;
    if (mfu->peak_flops > 0) summary["mfu"] = mfu->mfu(tokens_per_s);
  }
  if (files) files->write_summary(summary);
  return summary;
}

}  // namespace trainer
