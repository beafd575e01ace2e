// What a run puts in its checkpoints, and the checks that decide whether one can be resumed.
#pragma once

#include <optional>
#include <string>

#include "core/checkpoint/checkpoint.h"
#include "launcher/run_setup.h"
#include "parallel/process_grid.h"

namespace trainer {

// A save that failed (a full disk, a directory that cannot be written): every rank learns it
// from the same collective, so the job ends together, exit code 1. The previous checkpoint and
// `latest` are untouched.
class CheckpointNotWritten : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Writes the checkpoint of the state after `step` optimizer steps; returns its directory.
// Collective over grid.world: the first data-parallel replica's ranks each write their stage's
// shard and world rank 0 commits. A shard that cannot be written throws CheckpointNotWritten on
// every rank.
std::string save_run_checkpoint(RunSetup& run, int64_t step, ProcessGrid& grid);

// A checkpoint whose files passed their checksums, with its metadata.
struct ResumePoint {
  std::string dir;
  nlohmann::json meta;
};

// The checkpoint --resume names, verified: "auto" is the newest valid checkpoint of this run, or
// none (a fresh start): when the one `latest` names fails its checksums, the newest earlier one
// that passes is taken and `note` says so. A path is a checkpoint directory, or a checkpoints
// root holding a `latest` pointer; a corrupt one is refused (CheckpointError naming the file).
std::optional<ResumePoint> resolve_resume(const Config& cfg, const std::string& resume,
                                          std::string* note = nullptr);

// Reads and checks a checkpoint directory as --resume does (verify_checkpoint with what this
// program reads of meta.json, and every shard of the writing layout listed); throws
// CheckpointError naming the key or file.
nlohmann::json verify_run_checkpoint(const std::string& dir);

// Loads a verified checkpoint into the run; returns the number of steps it had taken. Throws
// CheckpointError when it was written by an incompatible run, saying why. `weights_only`
// (exporting, sampling; a run built for its weights): only the weights are read, only the model
// section must match (not the optimizer, data, seed or steps of the training that wrote it), and
// a checkpoint of another pipeline split gives them too.
int64_t restore_run_checkpoint(RunSetup& run, const ResumePoint& checkpoint,
                               bool weights_only = false);

}  // namespace trainer
