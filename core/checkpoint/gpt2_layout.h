// Where GPT-2's tensors are in a trainer model: the one map from a model built of embedding,
// L transformer_block entries, layer_norm and lm_head to the tensors of llm.c's parameter file
// and of Hugging Face transformers' GPT2LMHeadModel. Both formats' readers and writers use it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/model.h"

namespace trainer {

// GPT-2's sizes, as llm.c's header holds them. 0 where a source does not say (a safetensors
// file names no head count and keeps no vocabulary padding).
struct Gpt2Sizes {
  int64_t max_positions = 0, vocab = 0, padded_vocab = 0, layers = 0, heads = 0, channels = 0;
};

// A block's twelve tensors, in llm.c's order (Block::params' order): ln1 w/b, qkv w/b, attention
// projection w/b, ln2 w/b, fc w/b, fc projection w/b.
constexpr int kGpt2BlockTensors = 12;

struct Gpt2Layout {
  Gpt2Sizes sizes;
  Param* wte = nullptr;  // (padded vocabulary, channels): rows past the vocabulary are padding
  Param* wpe = nullptr;
  std::vector<std::vector<Param*>> blocks;  // per block, its kGpt2BlockTensors tensors
  Param* final_norm_weight = nullptr;
  Param* final_norm_bias = nullptr;
};

// Throws ConfigError "<format> needs embedding, transformer_block x L, layer_norm, lm_head;
// model layer i is X, expected Y" for a model of another shape.
Gpt2Layout gpt2_layout(Model& model, const std::string& format);
// Whether the model has GPT-2's shape (gpt2_layout would not throw).
bool is_gpt2(const Model& model);

// One tensor of GPT2LMHeadModel: its name without the "transformer." prefix, the parameter it
// is, whether it is stored transposed (transformers' Conv1D keeps linear weights as (in, out);
// trainer as (out, in)), and how many leading rows it keeps (the embedding drops the padding).
struct HfTensor {
  std::string name;
  Param* param;
  bool transposed;
  int64_t rows;
};
std::vector<HfTensor> hf_gpt2_tensors(const Gpt2Layout& layout);
// transformers' config.json for this GPT-2 (GPT2LMHeadModel, tanh GELU, tied head, layer norm
// epsilon 1e-5, no dropout), its torch_dtype `dtype`.
std::string hf_gpt2_config(const Gpt2Sizes& sizes, DType dtype);

}  // namespace trainer
