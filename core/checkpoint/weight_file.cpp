#include "core/checkpoint/weight_file.h"

#include "core/checkpoint/llmc_weights.h"
#include "core/checkpoint/safetensors.h"
#include "core/checkpoint/safetensors_weights.h"

namespace trainer {

std::optional<Gpt2Sizes> weight_file_sizes(const std::string& path) {
  if (SafetensorsFile::looks_like(path)) return hf_gpt2_sizes(path);
  return read_llmc_sizes(path);
}

void load_weight_file(const std::string& path, WeightTarget& target) {
  if (SafetensorsFile::looks_like(path))
    load_safetensors_weights(path, target);
  else
    load_llmc_weights(path, target);
}

}  // namespace trainer
