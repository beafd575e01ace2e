// Checkpoint directories: written whole or not at all, verified before use.
//
//   <root>/step_00000100/            one directory per saved step
//       meta.json                    step, run metadata, and size + CRC-32 of every other file
//       model.bin, optimizer.bin     tensor files (tensor_file.h)
//   <root>/latest                    the name of the newest complete checkpoint
//
// A checkpoint is written under a temporary name, fsynced, then renamed into place; `latest` is
// replaced by rename too. A crash at any point leaves the previous checkpoint and pointer intact.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/checkpoint/tensor_file.h"

namespace trainer {

struct TensorGroup {
  std::string file;  // "model.bin"
  NamedTensors tensors;
};

// Writes <root>/step_<step> and points `latest` at it, then removes all but the newest `keep`
// checkpoints up to `step` (later ones are an earlier run's and stay). Throws CheckpointError;
// on failure the previous checkpoint stays intact.
std::string write_checkpoint(const std::string& root, int64_t step,
                             const std::vector<TensorGroup>& groups, nlohmann::json meta, int keep);

// The checkpoint `latest` names, if any.
std::optional<std::string> latest_checkpoint(const std::string& root);

// Reads meta.json and checks every file's size and CRC-32; throws CheckpointError naming the
// file that does not match.
nlohmann::json verify_checkpoint(const std::string& dir);

// Loads the groups' tensors in place (after verify_checkpoint).
void load_checkpoint_tensors(const std::string& dir, const std::vector<TensorGroup>& groups);

}  // namespace trainer
