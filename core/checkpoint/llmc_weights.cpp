#include "core/checkpoint/llmc_weights.h"

#include <array>
#include <cmath>
#include <cstring>

#include "core/data/llmc_file.h"
#include "core/error.h"
#include "core/layers/attention.h"
#include "core/layers/block.h"
#include "core/layers/embedding.h"

namespace trainer {
namespace {

constexpr int kBlockTensors = 12;  // per transformer block, in llm.c's (and Block::params') order

struct GptLayout {
  std::array<int32_t, 256> header{};  // llm.c's header for this model
  std::vector<Param*> tensors;        // in the file's order
};

[[noreturn]] void not_gpt2(const Model& model, size_t i, const std::string& expected) {
  throw ConfigError(
      "model.init_from: llm.c's GPT-2 format needs embedding, transformer_block "
      "x L, layer_norm, lm_head; model layer " +
      std::to_string(i) + " is " +
      (i < model.size() ? model.layer(i).type() : std::string("missing")) + ", expected " +
      expected);
}

GptLayout layout_of(Model& model) {
  const size_t n = model.size();
  if (n < 3 || std::string(model.layer(0).type()) != "embedding") not_gpt2(model, 0, "embedding");
  const size_t L = n - 3;
  for (size_t i = 1; i <= L; ++i)
    if (std::string(model.layer(i).type()) != "transformer_block")
      not_gpt2(model, i, "transformer_block");
  if (std::string(model.layer(L + 1).type()) != "layer_norm") not_gpt2(model, L + 1, "layer_norm");
  if (std::string(model.layer(L + 2).type()) != "lm_head") not_gpt2(model, L + 2, "lm_head");
  if (L == 0) not_gpt2(model, 1, "transformer_block");

  auto& emb = static_cast<Embedding&>(model.layer(0));
  const Tensor& wte = emb.params()[0]->value;
  const Tensor& wpe = emb.params()[1]->value;
  // block > attn block > [ln, qkv, core, proj]
  auto& attn = static_cast<Block&>(static_cast<Block&>(model.layer(1)).child(0));
  const int64_t heads = static_cast<CausalSelfAttention&>(attn.child(2)).heads();

  GptLayout g;
  g.header[0] = kLlmcParamsMagic;
  g.header[1] = 3;
  g.header[2] = static_cast<int32_t>(wpe.dim(0));
  g.header[3] = static_cast<int32_t>(emb.vocab());
  g.header[4] = static_cast<int32_t>(L);
  g.header[5] = static_cast<int32_t>(heads);
  g.header[6] = static_cast<int32_t>(wte.dim(1));
  g.header[7] = static_cast<int32_t>(wte.dim(0));
  g.tensors = emb.params();
  for (int k = 0; k < kBlockTensors; ++k)
    for (size_t i = 1; i <= L; ++i) g.tensors.push_back(model.layer(i).params().at(k));
  for (Param* p : model.layer(L + 1).params()) g.tensors.push_back(p);
  return g;
}

}  // namespace

void load_llmc_weights(const std::string& path, Model& model) {
  const GptLayout g = layout_of(model);
  const LlmcFile f = read_llmc_file(path, kLlmcParamsMagic, {3});
  static const char* const kFields[] = {
      "max sequence length", "vocabulary", "layers", "heads", "channels", "padded vocabulary"};
  for (int i = 2; i < 8; ++i)
    if (f.header[i] != g.header[i])
      throw ConfigError("model.init_from: " + path + ": " + kFields[i - 2] + " " +
                        std::to_string(f.header[i]) + " in the file, " +
                        std::to_string(g.header[i]) + " in the config's model");
  size_t bytes = 0;
  for (const Param* p : g.tensors) bytes += p->value.bytes();
  if (f.payload.size() != bytes)
    throw DataError(path + ": " + std::to_string(f.payload.size()) + " bytes of weights, the " +
                    "header's sizes need " + std::to_string(bytes));
  const char* src = f.payload.data();
  for (Param* p : g.tensors) {
    Tensor host = Tensor::empty(p->value.shape());
    std::memcpy(host.f32(), src, host.bytes());
    for (int64_t i = 0; i < host.numel(); ++i)
      if (!std::isfinite(host.f32()[i]))
        throw DataError(path + ": " + p->name + " holds a non-finite value at element " +
                        std::to_string(i));
    p->value.copy_from(host);
    src += host.bytes();
  }
  model.refresh_compute_weights();
}

void save_llmc_weights(const std::string& path, Model& model) {
  const GptLayout g = layout_of(model);
  std::vector<char> payload;
  for (const Param* p : g.tensors) {
    const Tensor host = p->value.to(Device::cpu());
    const char* b = static_cast<const char*>(host.raw());
    payload.insert(payload.end(), b, b + host.bytes());
  }
  write_llmc_file(path, g.header, payload.data(), payload.size());
}

}  // namespace trainer
