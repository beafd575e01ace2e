// The training loop: steps, logging, evaluation, checkpoints, and the run's summary.
#pragma once

#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "launcher/run_setup.h"

namespace trainer {

// A step whose loss is not finite: the run stops (exit code 3) naming the step.
class TrainingError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Trains from the start, or from `resume_dir`, to cfg's end; returns summary.json's content,
// whose wall_s counts from `started` (the program's start, so loading the data is included).
nlohmann::json train(
    RunSetup& run, const std::optional<std::string>& resume_dir, FILE* log,
    std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now());

}  // namespace trainer
