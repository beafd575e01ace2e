#include "launcher/app.h"

#include <chrono>
#include <exception>

#include "core/cpu/parallel.h"
#include "core/error.h"
#include "launcher/checkpointing.h"
#include "launcher/model_summary.h"
#include "launcher/run_setup.h"
#include "launcher/training.h"

namespace trainer {

static int run_checked(const AppOptions& opts, FILE* out, FILE* err) {
  const auto started = std::chrono::steady_clock::now();
  RunSetup run = build_run(load_config(opts.config, opts.overrides));
  cpu::set_threads(static_cast<int>(run.cfg.threads));
  if (!run.cfg.device_note.empty()) std::fprintf(err, "note: %s\n", run.cfg.device_note.c_str());
  if (opts.dry_run) {
    std::fputs(model_summary(run).c_str(), out);
    return kOk;
  }
  const std::optional<std::string> resume = resolve_resume(run.cfg, opts.resume);
  if (opts.resume == "auto" && !resume)
    std::fprintf(err, "no checkpoint in %s: starting from step 0\n",
                 run.cfg.checkpoint_dir.c_str());
  const std::optional<std::string> earlier = latest_checkpoint(run.cfg.checkpoint_dir);
  if (opts.resume.empty() && earlier)
    std::fprintf(err,
                 "note: %s is an earlier run's checkpoint; this run starts from step 0 "
                 "(--resume auto continues that run instead)\n",
                 earlier->c_str());
  std::fprintf(err, "%s: %lld parameters, %lld steps, batch %lld, %s\n", run.cfg.name.c_str(),
               static_cast<long long>(run.model->parameter_count()),
               static_cast<long long>(run.total_steps), static_cast<long long>(run.cfg.batch_size),
               run.cfg.out_dir.c_str());
  const nlohmann::json summary = train(run, resume, err, started);
  std::fprintf(out, "%s\n", summary.dump().c_str());
  return kOk;
}

int run_app(const AppOptions& opts, FILE* out, FILE* err) {
  try {
    return run_checked(opts, out, err);
  } catch (const InputError& e) {
    std::fprintf(err, "error: %s\n", e.what());
    return kBadInput;
  } catch (const CheckpointError& e) {
    std::fprintf(err, "error: checkpoint: %s\n", e.what());
    return kBadInput;
  } catch (const TrainingError& e) {
    std::fprintf(err, "error: %s\n", e.what());
    return kTrainingFailed;
  } catch (const std::exception& e) {
    std::fprintf(err, "error: internal: %s\n", e.what());
    return kFailure;
  }
}

}  // namespace trainer
