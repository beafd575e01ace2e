#include "launcher/checkpointing.h"

#include <filesystem>

#include "core/error.h"

namespace trainer {

static std::vector<TensorGroup> tensor_groups(RunSetup& run) {
  TensorGroup model{"model.bin", {}}, optim{"optimizer.bin", {}};
  for (Param* p : run.model->params()) model.tensors.emplace_back(p->name, &p->value);
  optim.tensors = run.optimizer->state();
  return {model, optim};
}

// The parts of the config a checkpoint must agree with, each digested on its own so a refusal
// can say which part differs. Epochs, steps, logging and paths may change across a resume.
static nlohmann::json compatibility(const Config& c) {
  YAML::Node data;
  data["train"] = c.tree["data"]["train"];
  data["batch_size"] = c.tree["data"]["batch_size"];
  return {
      {"model", yaml_digest(c.tree["model"])},
      {"optimizer", yaml_digest(c.tree["optimizer"])},
      {"loss", c.loss},
      {"data", yaml_digest(data)},
      {"seed", c.seed},
      {"precision", c.compute},
      {"grad_accum", c.grad_accum},
  };
}

// The layout that wrote a checkpoint. Data-parallel replicas hold the same state, so another
// data-parallel size may resume it (only summation order changes); the pipeline split may not.
static nlohmann::json layout(const Config& c) {
  return {{"data", c.data_parallel}, {"pipeline", c.pipeline}};
}

std::string save_run_checkpoint(RunSetup& run, int64_t step) {
  const Config& c = run.cfg;
  nlohmann::json meta = {
      {"format", 1},
      {"run", c.name},
      {"optimizer_steps", run.optimizer->steps_taken()},
      {"compatibility", compatibility(c)},
      {"layout", layout(c)},
      // Every random stream is a pure function of (seed, step, sample), so this is all the state.
      {"rng", {{"seed", c.seed}, {"generator", "counter-based splitmix64"}}},
      {"data_position",
       {{"epoch", step / run.steps_per_epoch},
        {"batch_in_epoch", step % run.steps_per_epoch},
        {"batch_size", c.batch_size}}},
  };
  return write_checkpoint(c.checkpoint_dir, step, tensor_groups(run), meta,
                          static_cast<int>(c.checkpoint_keep));
}

std::optional<std::string> resolve_resume(const Config& cfg, const std::string& resume) {
  namespace fs = std::filesystem;
  if (resume.empty()) return std::nullopt;
  if (resume == "auto") return latest_checkpoint(cfg.checkpoint_dir);
  if (fs::exists(fs::path(resume) / "meta.json")) return resume;
  if (auto latest = latest_checkpoint(resume)) return latest;
  throw CheckpointError("--resume " + resume +
                        ": not a checkpoint directory (no meta.json) "
                        "and no checkpoints root (no latest)");
}

int64_t restore_run_checkpoint(RunSetup& run, const std::string& dir) {
  const nlohmann::json meta = verify_checkpoint(dir);
  const nlohmann::json want = compatibility(run.cfg);
  const nlohmann::json have = meta.value("compatibility", nlohmann::json::object());
  for (const auto& [key, value] : want.items())
    if (have.value(key, nlohmann::json()) != value)
      throw CheckpointError(
          dir + ": written by a run with a different " + key +
          (key == "seed" || key == "loss" || key == "precision" || key == "grad_accum"
               ? " (" + have.value(key, nlohmann::json()).dump() + ", this run has " +
                     value.dump() + ")"
               : " section") +
          "; it cannot be resumed by this config");
  const nlohmann::json written = meta.value("layout", nlohmann::json::object());
  if (written.value("pipeline", nlohmann::json()) != run.cfg.pipeline)
    throw CheckpointError(dir + ": written with layout " + written.dump() + ", this run has " +
                          layout(run.cfg).dump() + "; the pipeline split must match");
  load_checkpoint_tensors(dir, tensor_groups(run));
  run.optimizer->set_steps_taken(meta.at("optimizer_steps").get<int64_t>());
  return meta.at("step").get<int64_t>();
}

}  // namespace trainer
