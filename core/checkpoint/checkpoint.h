// Checkpoint directories: written whole or not at all, verified before use.
//
//   <root>/step_00000100/            one directory per saved step
//       meta.json                    step, run metadata, and size + CRC-32 of every other file
//       model.bin, optimizer.bin     tensor files (tensor_file.h)
//   <root>/latest                    the name of the newest complete checkpoint
//
// A checkpoint is written under a temporary name, fsynced, then renamed into place; `latest` is
// replaced by rename too. A crash at any point leaves the previous checkpoint and pointer intact.
//
// Several processes may write one checkpoint (one shard per pipeline stage): one calls
// stage_checkpoint, each writes its files with write_checkpoint_files, and the first commits
// with the files' records gathered.
#pragma once

#include <cstdint>
#include <functional>
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

// The same in three parts, for several writers. stage_checkpoint (re)creates the staging
// directory of `step` and returns it; write_checkpoint_files writes groups there and returns
// their records ({file: {crc32, bytes}}); commit_checkpoint writes meta.json with those records,
// renames the staging directory into place, points `latest` at it and prunes. On failure the
// staging directory is removed by abandon_checkpoint and the previous checkpoint stays.
std::string stage_checkpoint(const std::string& root, int64_t step);
// Where stage_checkpoint puts `step`'s files (the other writers' way to it).
std::string staging_dir(const std::string& root, int64_t step);
nlohmann::json write_checkpoint_files(const std::string& staging,
                                      const std::vector<TensorGroup>& groups);
std::string commit_checkpoint(const std::string& root, int64_t step, const std::string& staging,
                              nlohmann::json meta, int keep);
void abandon_checkpoint(const std::string& staging);

// The checkpoint `latest` names, if any: nullopt when it is missing, not a small regular file,
// or names anything but a step directory.
std::optional<std::string> latest_checkpoint(const std::string& root);

// The step directories under root, newest first (entries that cannot be read are skipped).
std::vector<std::string> step_directories(const std::string& root);

// Checks what a caller reads of meta.json beyond the step and files (meta_path names it in
// errors) and returns the files it needs listed; throws CheckpointError.
using MetaCheck = std::function<std::vector<std::string>(const nlohmann::json& meta,
                                                         const std::string& meta_path)>;

// Reads meta.json and checks it: valid JSON of the exact schema ("step" matching the directory,
// "files" naming plain files each with crc32 and bytes, and what `check` asks), and every file a
// regular file inside `dir` with its recorded size and CRC-32. Throws CheckpointError naming the
// key or file that does not match: anything else is not a checkpoint.
nlohmann::json verify_checkpoint(const std::string& dir, const MetaCheck& check = nullptr);

// Loads the groups' tensors in place (after verify_checkpoint).
void load_checkpoint_tensors(const std::string& dir, const std::vector<TensorGroup>& groups);

}  // namespace trainer
