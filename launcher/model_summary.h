// The --dry-run report: each layer, its output shape, parameters and FLOPs, and the totals.
#pragma once

#include <string>

#include "launcher/run_setup.h"

namespace trainer {

std::string model_summary(const RunSetup& run);
// 1234567 -> "1,234,567"
std::string with_commas(int64_t v);

}  // namespace trainer
