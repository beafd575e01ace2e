// The model the weight-file fuzz targets load into: a small GPT-2 (2 blocks, 2 heads, 16
// channels, a vocabulary of 19 padded to 24), built once per process.
#pragma once

#include "launcher/run_setup.h"

namespace trainer::fuzz {

RunSetup& small_gpt2();

}  // namespace trainer::fuzz
