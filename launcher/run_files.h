// The run directory: config.yaml, metrics.jsonl, summary.json (the README's "The run directory").
#pragma once

#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "launcher/config.h"
#include "launcher/tensorboard.h"

namespace trainer {

class RunFiles {
 public:
  // Creates out_dir and writes the resolved config. A run resumed at start_step > 0 keeps the
  // metrics.jsonl records up to that step and appends to them. Throws OutputError.
  RunFiles(const Config& cfg, int64_t start_step);
  // One JSON object per line, flushed (and the error checked), so a crashed run keeps every line
  // it logged. Under log.tensorboard each number in it is also a scalar at its "step", under
  // its key.
  void append_metrics(const nlohmann::json& record);
  // A text at a step (a language model's sample): in the TensorBoard file, under log.tensorboard.
  void append_text(const std::string& tag, int64_t step, const std::string& text);
  // Written whole or not at all (write_file_durably): a reader never sees half a summary.
  void write_summary(const nlohmann::json& summary) const;
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  std::ofstream metrics_;
  std::unique_ptr<EventFile> tensorboard_;  // <out_dir>/tb, under log.tensorboard
};

}  // namespace trainer
