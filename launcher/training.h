// The training loop: steps, logging, evaluation, checkpoints, and the run's summary.
#pragma once

#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "launcher/run_setup.h"
#include "parallel/process_grid.h"

namespace trainer {

// A step whose loss is not finite (train.on_nonfinite: stop): the run stops (exit code 3)
// naming the step and the rank.
class TrainingError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// SIGINT or SIGTERM: every rank stopped at the same step boundary, after writing a checkpoint
// (unless checkpoint.on_signal is false). The program exits with 128 + the signal number.
class StopRequested : public std::runtime_error {
 public:
  StopRequested(int signal, const std::string& what) : std::runtime_error(what), signal_(signal) {}
  int signal() const { return signal_; }

 private:
  int signal_;
};

// Trains from `start_step` (0, or the step of a checkpoint already restored into `run`) to
// cfg's end; returns summary.json's content,
// whose wall_s counts from `started` (the program's start, so loading the data is included).
// With a process grid, this rank trains its shard of every batch and rank 0 writes the files;
// without one, the process is the whole job.
nlohmann::json train(
    RunSetup& run, int64_t start_step, FILE* log,
    std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now(),
    ProcessGrid* grid = nullptr);

}  // namespace trainer
