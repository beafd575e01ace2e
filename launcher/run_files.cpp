#include "launcher/run_files.h"

#include <filesystem>
#include <sstream>

#include "core/durable_file.h"
#include "core/error.h"

namespace trainer {

namespace fs = std::filesystem;

// The records of an earlier life of this run up to `step`: a run killed after its last
// checkpoint logged steps that the resumed run logs again, and a line cut by the kill is dropped.
static std::string records_up_to(const fs::path& path, int64_t step) {
  std::ifstream in(path);
  std::string kept;
  for (std::string line; std::getline(in, line);) {
    const nlohmann::json r = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (r.is_object() && r.contains("step") && r["step"].is_number_integer() &&
        r["step"].get<int64_t>() <= step)
      kept += line + "\n";
  }
  return kept;
}

RunFiles::RunFiles(const Config& cfg, int64_t start_step) : dir_(cfg.out_dir) {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) throw ConfigError("run.out_dir: cannot create " + dir_ + ": " + ec.message());
  YAML::Emitter yaml;
  yaml << cfg.tree;
  write_file_durably((fs::path(dir_) / "config.yaml").string(), std::string(yaml.c_str()) + "\n");
  const fs::path metrics = fs::path(dir_) / "metrics.jsonl";
  write_file_durably(metrics.string(), start_step > 0 ? records_up_to(metrics, start_step) : "");
  metrics_.open(metrics, std::ios::app);
  if (!metrics_) throw OutputError("cannot write " + metrics.string());
  if (cfg.tensorboard) {
    // A new file per start: TensorBoard reads every file of the folder, a resumed run's too.
    tensorboard_ = std::make_unique<EventFile>((fs::path(dir_) / "tb").string());
    tensorboard_->text("config", start_step, yaml.c_str());
  }
}

void RunFiles::append_metrics(const nlohmann::json& record) {
  metrics_ << record.dump() << '\n';
  metrics_.flush();
  if (!metrics_) throw OutputError("cannot write " + dir_ + "/metrics.jsonl (is the disk full?)");
  if (!tensorboard_) return;
  const int64_t step = record.value("step", int64_t{0});
  for (const auto& [name, value] : record.items())
    if (value.is_number() && name != "step") tensorboard_->scalar(name, step, value.get<double>());
}

void RunFiles::append_text(const std::string& tag, int64_t step, const std::string& text) {
  if (tensorboard_) tensorboard_->text(tag, step, text);
}

void RunFiles::write_summary(const nlohmann::json& summary) const {
  write_file_durably((fs::path(dir_) / "summary.json").string(), summary.dump(2) + "\n");
}

}  // namespace trainer
