// A model's weights as safetensors: in trainer's parameter names (any model), or for a GPT-2 in
// the names of Hugging Face transformers' GPT2LMHeadModel, with its config.json, so that
// `GPT2LMHeadModel.from_pretrained(dir)` loads what trainer trained and trainer starts from what
// the Hub holds.
#pragma once

#include <optional>
#include <string>

#include "core/checkpoint/gpt2_layout.h"
#include "core/checkpoint/weight_target.h"
#include "core/model.h"

namespace trainer {

enum class WeightNames { Trainer, HuggingFace };

// Writes `dir`/model.safetensors (every parameter's master value, stored as `dtype`: F32 or
// BF16) and, with HuggingFace names, `dir`/config.json; makes `dir` if it is missing. Throws
// ConfigError for HuggingFace names on a model that is no GPT-2, OutputError when it cannot
// write.
void save_safetensors_weights(const std::string& dir, Model& model, WeightNames names, DType dtype);

// Copies a safetensors file's weights (F32, BF16 or F16) into the target's model; `path` may be
// the index of a model sharded over several files (see safetensors_model.h). The file's names
// say which naming it uses: transformers' GPT-2 ("transformer.wte.weight", or "wte.weight" as the
// Hub's GPT-2 files have it; the causal-mask buffers of older files are skipped and a
// "lm_head.weight" must equal the embedding it is tied to), else trainer's. Every tensor the
// model needs must be there with its shape, and no other: a tensor that would be silently
// dropped is an error. Throws DataError / ConfigError naming the file and the tensor. Reads only
// the tensors this rank holds.
void load_safetensors_weights(const std::string& path, WeightTarget& target);

// The sizes a transformers-named GPT-2 file gives (the head count from the config.json beside
// it, 0 without one; the padding 0: the file keeps none); nullopt for a file in trainer's names.
std::optional<Gpt2Sizes> hf_gpt2_sizes(const std::string& path);

}  // namespace trainer
