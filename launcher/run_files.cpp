#include "launcher/run_files.h"

#include <filesystem>

#include "core/error.h"

namespace trainer {

namespace fs = std::filesystem;

static void write_whole(const fs::path& path, const std::string& text) {
  const fs::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp);
    out << text;
    if (!out) throw CheckpointError("cannot write " + tmp.string());
  }
  fs::rename(tmp, path);
}

RunFiles::RunFiles(const Config& cfg, bool resumed) : dir_(cfg.out_dir) {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) throw ConfigError("run.out_dir: cannot create " + dir_ + ": " + ec.message());
  YAML::Emitter yaml;
  yaml << cfg.tree;
  write_whole(fs::path(dir_) / "config.yaml", std::string(yaml.c_str()) + "\n");
  metrics_.open(fs::path(dir_) / "metrics.jsonl", resumed ? std::ios::app : std::ios::trunc);
  if (!metrics_) throw ConfigError("run.out_dir: cannot write " + dir_ + "/metrics.jsonl");
}

void RunFiles::append_metrics(const nlohmann::json& record) {
  metrics_ << record.dump() << '\n';
  metrics_.flush();
}

void RunFiles::write_summary(const nlohmann::json& summary) const {
  write_whole(fs::path(dir_) / "summary.json", summary.dump(2) + "\n");
}

}  // namespace trainer
