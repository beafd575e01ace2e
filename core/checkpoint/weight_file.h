// The weights a run starts from (model.init_from): one front for every format trainer reads, so
// which format a file is gets decided in one place. A safetensors file (by its header) or the
// index of a model sharded over several (a name ending in ".index.json"), in transformers' GPT-2
// names or trainer's; anything else is taken for llm.c's GPT-2 format, whose reader names the
// file when it is not.
#pragma once

#include <optional>
#include <string>

#include "core/checkpoint/gpt2_layout.h"
#include "core/checkpoint/weight_target.h"

namespace trainer {

// The GPT-2 sizes the file states (llm.c's header; a transformers-named file's shapes and
// config.json); nullopt for a file in trainer's names, which states none. Throws DataError
// naming the file when it is malformed.
std::optional<Gpt2Sizes> weight_file_sizes(const std::string& path);

// Copies the file's weights into the target's model (see load_safetensors_weights and
// load_llmc_weights for what each checks).
void load_weight_file(const std::string& path, WeightTarget& target);

}  // namespace trainer
