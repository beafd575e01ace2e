#include "tests/faults/fault_support.h"

#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

namespace trainer::test {

namespace fs = std::filesystem;

const std::string kTrainer = TRAINER_BINARY;

const char* const kConfig = R"(run: {name: faults, seed: 3}
data:
  train: {type: synthetic, samples: 512, shape: [16], classes: 4}
  batch_size: 32
model:
  layers:
    - {type: linear, out_features: 32}
    - {type: relu}
    - {type: linear, out_features: 4}
optimizer: {type: adam, lr: 0.01}
train: {max_steps: 12}
checkpoint: {every_steps: 4}
log: {every_steps: 1}
)";

const char* const kEnv =
    "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1 "
    "OPENBLAS_NUM_THREADS=1 ";

CommandResult run(int ranks, const std::string& args, const std::string& env, int limit_s) {
  const std::string launcher =
      ranks == 1 ? "" : "mpirun --oversubscribe -np " + std::to_string(ranks) + " ";
  const std::string faults = env.empty() ? "" : " --fault-injection";
  return run_command(std::string(kEnv) + env + " timeout " + std::to_string(limit_s) + " " +
                     launcher + kTrainer + " " + args + faults);
}

std::map<std::string, std::string> snapshot(const std::string& dir) {
  std::map<std::string, std::string> out;
  if (!fs::exists(dir)) return out;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) out[e.path().string()] = read_file(e.path().string());
  return out;
}

std::map<int, double> metric(const std::string& run_dir, const std::string& key) {
  std::map<int, double> out;
  std::istringstream in(read_file(run_dir + "/metrics.jsonl"));
  for (std::string line; std::getline(in, line);) {
    const nlohmann::json r = nlohmann::json::parse(line);
    if (r.contains(key)) out[r["step"].get<int>()] = r[key].get<double>();
  }
  return out;
}

std::map<int, double> losses(const std::string& run_dir) { return metric(run_dir, "loss"); }

std::string be32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
          static_cast<char>(v)};
}

}  // namespace trainer::test
