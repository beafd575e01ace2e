// Everything a run needs, built from a Config and checked before the first step: the data sets,
// the model (every layer's shape checked against the one before), the optimizer, the step count.
#pragma once

#include <memory>

#include "core/data/dataset.h"
#include "core/model.h"
#include "core/optim/optimizer.h"
#include "launcher/config.h"

namespace trainer {

struct RunSetup {
  Config cfg;
  std::unique_ptr<Dataset> train, test;  // test may be null
  std::unique_ptr<Model> model;
  std::unique_ptr<Optimizer> optimizer;
  int64_t steps_per_epoch = 0;
  int64_t total_steps = 0;
};

// Throws ConfigError naming the key (a data file that cannot be read is reported at its key).
RunSetup build_run(Config cfg);

// The model alone, for a given input shape (per sample).
std::unique_ptr<Model> build_model(const Config& cfg, const Shape& input);

}  // namespace trainer
