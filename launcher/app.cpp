#include "launcher/app.h"

#include <algorithm>
#include <chrono>
#include <exception>
#include <functional>
#include <thread>

#include "core/check.h"
#include "core/cpu/parallel.h"
#include "core/error.h"
#include "core/optim/loss_scaler.h"
#include "launcher/checkpointing.h"
#include "launcher/fault_injection.h"
#include "launcher/model_io.h"
#include "launcher/model_summary.h"
#include "launcher/plan_report.h"
#include "launcher/rank_agreement.h"
#include "launcher/run_lock.h"
#include "launcher/run_setup.h"
#include "launcher/stop_signal.h"
#include "launcher/training.h"
#include "parallel/environment.h"
#include "parallel/mpi_communicator.h"
#include "parallel/replica_check.h"

namespace trainer {

static bool out_of_memory = false;

bool ran_out_of_memory() { return out_of_memory; }

namespace {

// An error a rank reports as one line, with the exit code the job ends with.
struct Failure {
  int code = kOk;
  std::string message;
  // Met by every rank at once (it comes out of reduced values or a collective's outcome), so
  // the job can agree on it and end cleanly instead of aborting.
  bool agreed = false;
};

// Runs f; turns what it throws into a Failure.
Failure guarded(const std::function<void()>& f) {
  try {
    f();
    return {};
  } catch (const InputError& e) {
    return {kBadInput, e.what()};
  } catch (const CheckpointError& e) {
    return {kBadInput, std::string("checkpoint: ") + e.what()};
  } catch (const TrainingError& e) {
    return {kTrainingFailed, e.what(), true};
  } catch (const LossScaleUnderflow& e) {  // the scale comes out of an agreed flag
    return {kTrainingFailed, e.what(), true};
  } catch (const StopRequested& e) {
    return {128 + e.signal(), e.what(), true};
  } catch (const ReplicaMismatch& e) {
    return {kTrainingFailed, e.what(), true};
  } catch (const CheckpointNotWritten& e) {
    return {kFailure, e.what(), true};
  } catch (const OutputError& e) {
    return {kFailure, e.what()};
  } catch (const DeviceError& e) {  // the GPU or its driver, not the user's input
    return {kFailure, std::string("device: ") + e.what()};
  } catch (const std::bad_alloc&) {
    out_of_memory = true;
    return {kBadInput,
            "out of memory: the run needs more memory than this process may use "
            "(a smaller model or data.batch_size, or a higher ulimit -v)"};
  } catch (const std::exception& e) {
    return {kFailure, std::string("internal: ") + e.what()};
  }
}

// A message is printed as one line of text: control characters that came with the input (a key,
// a value, a path) are shown escaped, never sent to the terminal.
std::string printable(const std::string& text) {
  std::string out;
  for (unsigned char ch : text) {
    if (ch >= 0x20 && ch != 0x7f) {
      out += static_cast<char>(ch);
      continue;
    }
    char buf[8];
    std::snprintf(buf, sizeof buf, "\\x%02x", ch);
    out += buf;
  }
  return out;
}

Failure attempt(const std::function<void()>& f) {
  Failure failure = guarded(f);
  failure.message = printable(failure.message);
  return failure;
}

// Every rank learns whether any rank failed. The lowest failing rank prints its message (so a
// config error that every rank finds is printed once, and a file missing on one node is printed
// by that node); every rank returns the failure's exit code. Collective: all ranks call it.
int agree(Communicator& world, const Failure& mine, FILE* err) {
  int64_t v[2] = {mine.code ? world.size() - world.rank() : 0, mine.code};
  world.all_reduce(v, 2, ReduceOp::Max);
  if (v[0] == 0) return kOk;
  if (mine.code && world.size() - world.rank() == v[0]) {
    if (world.size() > 1)
      std::fprintf(err, "error: rank %d: %s\n", world.rank(), mine.message.c_str());
    else
      std::fprintf(err, "error: %s\n", mine.message.c_str());
  }
  return static_cast<int>(v[1]);
}

// Threads per rank: the config's, or the cores shared out among the ranks of this machine.
int threads_for(const Config& cfg, const Environment& env) {
  if (cfg.threads > 0) return static_cast<int>(cfg.threads);
  if (env.local_world <= 1) return 0;  // OpenMP's default: every core
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  return std::max(1, cores / env.local_world);
}

void say_start(const RunSetup& run, const AppOptions& opts, bool resumed, int world, FILE* err) {
  const Config& c = run.cfg;
  if (!c.device_note.empty()) std::fprintf(err, "note: %s\n", c.device_note.c_str());
  if (opts.resume == "auto" && !resumed)
    std::fprintf(err, "no checkpoint in %s: starting from step 0\n", c.checkpoint_dir.c_str());
  const std::optional<std::string> earlier = latest_checkpoint(c.checkpoint_dir);
  if (opts.resume.empty() && earlier)
    std::fprintf(err,
                 "note: %s is an earlier run's checkpoint; this run starts from step 0 "
                 "(--resume auto continues that run instead)\n",
                 earlier->c_str());
  std::fprintf(
      err,
      "%s: %lld parameters, %lld steps, batch %lld, %d rank%s (data %lld x pipeline %lld), %s\n",
      c.name.c_str(), static_cast<long long>(total_parameters(run)),
      static_cast<long long>(run.total_steps), static_cast<long long>(c.batch_size), world,
      world == 1 ? "" : "s", static_cast<long long>(c.data_parallel),
      static_cast<long long>(c.pipeline), c.out_dir.c_str());
}

}  // namespace

int run_app(const AppOptions& opts, FILE* out, FILE* err) {
  const auto started = std::chrono::steady_clock::now();
  if (opts.fault_injection) enable_fault_injection();
  const Environment env = discover_environment();
  set_error_rank(env.rank);
  // Several ranks: MPI starts first (it is no collective that can hang), then every rank checks
  // the whole config and data on its own before they agree and communicate.
  std::unique_ptr<MpiCommunicator> mpi;
  std::unique_ptr<Communicator> self;
  Failure failure = attempt([&] {
    if (env.distributed()) mpi = MpiCommunicator::world();
  });
  if (failure.code) {
    std::fprintf(err, "error: rank %d: %s\n", env.rank, failure.message.c_str());
    return failure.code;
  }
  if (!mpi) self = std::make_unique<SelfCommunicator>();
  install_signal_handlers();  // after MPI's own, so SIGINT/SIGTERM come to the training loop
  Communicator& world = mpi ? static_cast<Communicator&>(*mpi) : *self;

  std::optional<RunSetup> run;
  std::optional<RunLock> lock;  // held until the process ends
  std::optional<ResumePoint> resume;
  std::string resume_note;  // why --resume auto passed over the latest checkpoint
  int64_t start_step = 0;
  const bool trains = !opts.sample && opts.export_llmc.empty() && opts.safetensors.dir.empty();
  failure = attempt([&] {
    // A dry run outside mpirun plans the layout the config asks for.
    const int ranks = opts.dry_run && !mpi ? 0 : world.size();
    Config cfg = load_config(opts.config, opts.overrides, ranks);
    const GridPlace place =
        place_of(world.rank(), static_cast<int>(cfg.pipeline), static_cast<int>(cfg.tensor));
    run.emplace(build_run(std::move(cfg), place.stage,
                          opts.dry_run ? BuildFor::Plan
                          : trains     ? BuildFor::Training
                                       : BuildFor::Weights,
                          place.data_rank, place.tensor_rank));
    if (mpi) mpi->set_timeout(run->cfg.timeout_s);
    cpu::set_threads(threads_for(run->cfg, env));
    if (opts.dry_run) return;
    // Before any collective: an unusable out_dir or a second run in it ends the job here.
    if (trains && world.rank() == 0) lock.emplace(run->cfg.out_dir);
    resume = resolve_resume(run->cfg, opts.resume, &resume_note);
    // Every rank reads it; an export or a sample needs only the weights, of any split.
    if (resume) start_step = restore_run_checkpoint(*run, *resume, !trains);
  });
  if (const int code = agree(world, failure, err)) return code;
  failure = attempt([&] { check_ranks_agree(world, run->cfg); });
  if (const int code = agree(world, failure, err)) return code;
  const bool root = world.rank() == 0;
  if (opts.dry_run) {
    if (!root) return kOk;
    const Cluster& cluster = cluster_preset(!opts.cluster.empty()       ? opts.cluster
                                            : run->cfg.device == "cuda" ? "h100"
                                                                        : "cpu");
    if (opts.json) {
      std::fprintf(out, "%s\n", plan_json(*run, cluster, opts.search).dump().c_str());
      return kOk;
    }
    std::fputs(model_summary(*run).c_str(), out);
    std::fputs(prediction_text(*run, cluster).c_str(), out);
    if (opts.search > 0) std::fputs(search_text(*run, cluster, opts.search).c_str(), out);
    return kOk;
  }
  if (!trains) {
    failure = attempt([&] {
      if (world.size() > 1)
        throw ConfigError("--export-llmc, --export-safetensors and --sample run in one process");
      if (!opts.export_llmc.empty()) export_llmc(*run, opts.export_llmc, err);
      if (!opts.safetensors.dir.empty()) export_safetensors(*run, opts.safetensors, err);
      if (opts.sample) std::fprintf(out, "%s\n", sample_text(*run, opts.request).c_str());
    });
    return agree(world, failure, err);
  }
  if (root) say_start(*run, opts, resume.has_value(), world.size(), err);
  if (root && !resume_note.empty()) std::fprintf(err, "note: %s\n", resume_note.c_str());
  if (root && resume)
    std::fprintf(err, "resumed from %s at step %lld\n", resume->dir.c_str(),
                 static_cast<long long>(start_step));

  ProcessGrid grid;
  nlohmann::json summary;
  failure = attempt([&] {
    grid = mpi ? ProcessGrid::split(std::move(mpi), static_cast<int>(run->cfg.pipeline),
                                    run->cfg.communicator == "nccl", run->cfg.timeout_s,
                                    static_cast<int>(run->cfg.tensor))
               : ProcessGrid::single();
    summary = train(*run, start_step, err, started, &grid);
  });
  Communicator& all = grid.world ? *grid.world : world;
  if (failure.code > kTrainingFailed) {  // a stop signal: not an error
    if (root) std::fprintf(err, "%s\n", failure.message.c_str());
    return failure.code;
  }
  if (failure.agreed) return agree(all, failure, err);
  if (failure.code) {
    // Anything else (an internal error, a metrics file rank 0 cannot write) may be this rank's
    // alone while the others wait in a collective: end the whole job now rather than hang.
    if (all.size() == 1) return agree(all, failure, err);
    std::fprintf(err, "error: rank %d: %s\n", all.rank(), failure.message.c_str());
    MpiCommunicator::abort_job(failure.code);
  }
  if (root) std::fprintf(out, "%s\n", summary.dump().c_str());
  return kOk;
}

}  // namespace trainer
