#include "core/checkpoint/weight_file.h"

#include "core/checkpoint/llmc_weights.h"
#include "core/checkpoint/safetensors.h"
#include "core/checkpoint/safetensors_model.h"
#include "core/checkpoint/safetensors_weights.h"

namespace trainer {

// A safetensors index (several files) or one file, by its header.
static bool is_safetensors(const std::string& path) {
  return SafetensorsModel::is_index(path) || SafetensorsFile::looks_like(path);
}

std::optional<Gpt2Sizes> weight_file_sizes(const std::string& path) {
  if (is_safetensors(path)) return hf_gpt2_sizes(path);
  return read_llmc_sizes(path);
}

void load_weight_file(const std::string& path, WeightTarget& target) {
  if (is_safetensors(path))
    load_safetensors_weights(path, target);
  else
    load_llmc_weights(path, target);
}

}  // namespace trainer
