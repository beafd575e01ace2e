#include "core/checkpoint/gpt2_layout.h"

#include <nlohmann/json.hpp>
#include <optional>
#include <utility>

#include "core/error.h"
#include "core/layers/attention.h"
#include "core/layers/block.h"
#include "core/layers/embedding.h"

namespace trainer {
namespace {

bool is(const Model& model, size_t i, const std::string& type) {
  return i < model.size() && model.layer(i).type() == type;
}

// The first layer that does not fit GPT-2's shape, and the type it should have; nullopt for a
// GPT-2.
std::optional<std::pair<size_t, std::string>> first_misfit(const Model& model) {
  const size_t n = model.size();
  if (!is(model, 0, "embedding")) return {{0, "embedding"}};
  const size_t L = n < 3 ? 0 : n - 3;
  if (L == 0) return {{1, "transformer_block"}};
  for (size_t i = 1; i <= L; ++i)
    if (!is(model, i, "transformer_block")) return {{i, "transformer_block"}};
  if (!is(model, L + 1, "layer_norm")) return {{L + 1, "layer_norm"}};
  if (!is(model, L + 2, "lm_head")) return {{L + 2, "lm_head"}};
  return std::nullopt;
}

}  // namespace

bool is_gpt2(const Model& model) { return !first_misfit(model); }

Gpt2Layout gpt2_layout(Model& model, const std::string& format) {
  if (const auto misfit = first_misfit(model)) {
    const size_t i = misfit->first;
    throw ConfigError(format +
                      " needs embedding, transformer_block x L, layer_norm, lm_head; model layer " +
                      std::to_string(i) + " is " +
                      (i < model.size() ? model.layer(i).type() : std::string("missing")) +
                      ", expected " + misfit->second);
  }
  const size_t L = model.size() - 3;
  auto& emb = static_cast<Embedding&>(model.layer(0));
  Gpt2Layout g;
  g.wte = emb.params()[0];
  g.wpe = emb.params()[1];
  for (size_t i = 1; i <= L; ++i) g.blocks.push_back(model.layer(i).params());
  const std::vector<Param*> norm = model.layer(L + 1).params();
  g.final_norm_weight = norm.at(0);
  g.final_norm_bias = norm.at(1);
  // block > attention block > [ln, qkv, core, proj]
  auto& attn = static_cast<Block&>(static_cast<Block&>(model.layer(1)).child(0));
  g.sizes.max_positions = g.wpe->value.dim(0);
  g.sizes.vocab = emb.vocab();
  g.sizes.padded_vocab = g.wte->value.dim(0);
  g.sizes.layers = static_cast<int64_t>(L);
  g.sizes.heads = static_cast<CausalSelfAttention&>(attn.child(2)).heads();
  g.sizes.channels = g.wte->value.dim(1);
  return g;
}

std::vector<HfTensor> hf_gpt2_tensors(const Gpt2Layout& g) {
  static const char* const kBlock[kGpt2BlockTensors] = {
      "ln_1.weight",        "ln_1.bias",        "attn.c_attn.weight", "attn.c_attn.bias",
      "attn.c_proj.weight", "attn.c_proj.bias", "ln_2.weight",        "ln_2.bias",
      "mlp.c_fc.weight",    "mlp.c_fc.bias",    "mlp.c_proj.weight",  "mlp.c_proj.bias"};
  std::vector<HfTensor> out;
  out.push_back({"wte.weight", g.wte, false, g.sizes.vocab});
  out.push_back({"wpe.weight", g.wpe, false, g.wpe->value.dim(0)});
  for (size_t l = 0; l < g.blocks.size(); ++l)
    for (int k = 0; k < kGpt2BlockTensors; ++k) {
      Param* p = g.blocks[l].at(static_cast<size_t>(k));
      const bool linear_weight = p->value.shape().size() == 2;  // the Conv1D ones
      out.push_back(
          {"h." + std::to_string(l) + "." + kBlock[k], p, linear_weight, p->value.dim(0)});
    }
  out.push_back({"ln_f.weight", g.final_norm_weight, false, g.final_norm_weight->value.dim(0)});
  out.push_back({"ln_f.bias", g.final_norm_bias, false, g.final_norm_bias->value.dim(0)});
  return out;
}

std::string hf_gpt2_config(const Gpt2Sizes& s, DType dtype) {
  nlohmann::ordered_json c;
  c["architectures"] = {"GPT2LMHeadModel"};
  c["model_type"] = "gpt2";
  c["vocab_size"] = s.vocab;
  c["n_positions"] = s.max_positions;
  c["n_ctx"] = s.max_positions;
  c["n_embd"] = s.channels;
  c["n_layer"] = s.layers;
  c["n_head"] = s.heads;
  c["n_inner"] = nullptr;                 // 4 x n_embd
  c["activation_function"] = "gelu_new";  // GPT-2's tanh approximation, as trainer's blocks use
  c["layer_norm_epsilon"] = 1e-5;
  c["resid_pdrop"] = 0.0;
  c["embd_pdrop"] = 0.0;
  c["attn_pdrop"] = 0.0;
  c["initializer_range"] = 0.02;
  c["tie_word_embeddings"] = true;
  // GPT-2's tokenizer ends a text with token 50256; a model of another vocabulary names none.
  const bool gpt2_vocab = s.vocab == 50257;
  c["bos_token_id"] = gpt2_vocab ? nlohmann::ordered_json(50256) : nullptr;
  c["eos_token_id"] = gpt2_vocab ? nlohmann::ordered_json(50256) : nullptr;
  c["torch_dtype"] = dtype == DType::BF16 ? "bfloat16" : "float32";
  return c.dump(2) + "\n";
}

}  // namespace trainer
