// GPT-2 weights in llm.c's parameter file format (magic 20240326, version 3 = fp32): the header
// holds max sequence length, vocabulary, layers, heads, channels and padded vocabulary; then the
// tensors in llm.c's order: wte, wpe, and for each of the blocks' twelve tensors (ln1 w/b, qkv
// w/b, attention projection w/b, ln2 w/b, fc w/b, fc projection w/b) all L layers' copies in a
// row, then the final layer norm's w and b. Linear weights are (out, in), as here.
//
// The model must be a GPT-2 (see gpt2_layout.h).
#pragma once

#include <string>

#include "core/checkpoint/gpt2_layout.h"
#include "core/checkpoint/weight_target.h"
#include "core/model.h"

namespace trainer {

// The sizes in the file's header; throws DataError naming the file when it is not such a file.
Gpt2Sizes read_llmc_sizes(const std::string& path);
// Copies the file's weights into the target's model; throws DataError naming the file when it is
// not such a file, and ConfigError naming the first size that differs from the model's.
void load_llmc_weights(const std::string& path, WeightTarget& target);
// Writes the model's weights (master copies, fp32) as such a file, durably (see DurableFile),
// one tensor at a time.
void save_llmc_weights(const std::string& path, Model& model);

}  // namespace trainer
