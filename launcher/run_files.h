// The run directory: config.yaml, metrics.jsonl, summary.json (the README's "The run directory").
#pragma once

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "launcher/config.h"

namespace trainer {

class RunFiles {
 public:
  // Creates out_dir and writes the resolved config. A resumed run appends to metrics.jsonl.
  RunFiles(const Config& cfg, bool resumed);
  // One JSON object per line, flushed, so a crashed run keeps every line it logged.
  void append_metrics(const nlohmann::json& record);
  // Written to a temporary name and renamed, so a reader never sees half a summary.
  void write_summary(const nlohmann::json& summary) const;
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  std::ofstream metrics_;
};

}  // namespace trainer
