// The model the weight-file fuzz targets load into: a small GPT-2 (2 blocks, 2 heads, 16
// channels, a vocabulary of 19 padded to 24), built once per process: the whole model with its
// weights (a plan, BuildFor::Plan, holds its first layer only, so a file would never get past
// the model's shape).
#pragma once

#include <string>

#include "launcher/run_setup.h"

namespace trainer::fuzz {

RunSetup& small_gpt2();

// What model.init_from does with a safetensors file or index at `path`: the sizes it states, then
// its weights loaded into small_gpt2(); the InputError either may throw is the expected refusal.
void load_safetensors_into_small_gpt2(const std::string& path);

}  // namespace trainer::fuzz
