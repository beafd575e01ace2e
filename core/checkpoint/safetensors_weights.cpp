#include "core/checkpoint/safetensors_weights.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "core/checkpoint/safetensors.h"
#include "core/checkpoint/safetensors_model.h"
#include "core/durable_file.h"
#include "core/error.h"

namespace trainer {
namespace {

constexpr const char* kHfPrefix = "transformer.";

// "transformer." or "" when the file names GPT-2's tensors as transformers does; nullopt else.
std::optional<std::string> hf_prefix(const SafetensorsModel& f) {
  if (f.has(std::string(kHfPrefix) + "wte.weight")) return std::string(kHfPrefix);
  if (f.has("wte.weight")) return std::string();
  return std::nullopt;
}

// A (rows, cols) host tensor as (cols, rows).
Tensor transposed(const Tensor& t) {
  const int64_t rows = t.dim(0), cols = t.dim(1);
  Tensor out = Tensor::empty({cols, rows});
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) out.f32()[c * rows + r] = t.f32()[r * cols + c];
  return out;
}

// The stored form of a GPT-2 tensor: its first `rows` rows, transposed for Conv1D.
Tensor to_hf(const HfTensor& t) {
  const Tensor v = t.param->value.to(Device::cpu());
  if (t.transposed) return transposed(v);
  Shape shape = v.shape();
  shape[0] = t.rows;
  Tensor out = Tensor::empty(shape);
  std::copy(v.f32(), v.f32() + out.numel(), out.f32());
  return out;
}

// The inverse of to_hf: the parameter's full shape, padding rows zero.
Tensor from_hf(const HfTensor& t, const Tensor& stored) {
  if (t.transposed) return transposed(stored);
  Tensor out = Tensor::zeros(t.param->value.shape());
  std::copy(stored.f32(), stored.f32() + stored.numel(), out.f32());
  return out;
}

Shape hf_shape(const HfTensor& t) {
  Shape s = t.param->value.shape();
  if (t.transposed) return {s[1], s[0]};
  s[0] = t.rows;
  return s;
}

// Checks that `f` has tensor `key` of shape `shape` (a parameter's, as the file stores it).
void check_entry(const SafetensorsModel& f, const std::string& key, const Shape& shape) {
  const SafetensorsEntry* e = f.find(key);
  if (!e) throw DataError(f.path() + ": no tensor '" + key + "', which the config's model needs");
  if (e->shape != shape)
    throw ConfigError("model.init_from: " + f.path() + ": tensor '" + key + "' has shape " +
                      shape_str(e->shape) + ", the config's model needs " + shape_str(shape));
}

// Throws for the first tensor of `f` outside `used` that `skippable` does not accept.
template <typename Skip>
void refuse_leftovers(const SafetensorsModel& f, const std::set<std::string>& used,
                      Skip skippable) {
  for (const std::string& key : f.names())
    if (!used.count(key) && !skippable(key))
      throw DataError(f.path() + ": tensor '" + key +
                      "' has no place in the config's model (it would be dropped)");
}

// Every tensor is checked; only those this rank holds are read.
void load_hf(const SafetensorsModel& f, const std::string& prefix, WeightTarget& target) {
  const Gpt2Layout g = gpt2_layout(target.whole(), "model.init_from: transformers' GPT-2 names");
  const std::vector<HfTensor> tensors = hf_gpt2_tensors(g);
  std::set<std::string> used;
  for (const HfTensor& t : tensors) {
    const std::string key = prefix + t.name;
    check_entry(f, key, hf_shape(t));
    if (target.holds(*t.param)) target.set(*t.param, from_hf(t, f.to_f32(key)), f.path());
    used.insert(key);
  }
  // The head is the embedding (tied); a file whose head differs is another model.
  if (f.has("lm_head.weight")) {
    const HfTensor& wte = tensors.front();
    check_entry(f, "lm_head.weight", hf_shape(wte));
    const Tensor head = f.to_f32("lm_head.weight"), emb = f.to_f32(prefix + wte.name);
    if (!std::equal(head.f32(), head.f32() + head.numel(), emb.f32()))
      throw DataError(f.path() + ": lm_head.weight differs from " + prefix + wte.name +
                      "; trainer's GPT-2 ties the head to the token embedding");
    used.insert("lm_head.weight");
  }
  // Older files keep attention's causal mask as a buffer: a constant, not a weight.
  refuse_leftovers(f, used, [](const std::string& key) {
    const auto ends = [&](const std::string& tail) {
      return key.size() >= tail.size() &&
             key.compare(key.size() - tail.size(), tail.size(), tail) == 0;
    };
    return ends(".attn.bias") || ends(".attn.masked_bias");
  });
}

void load_trainer_names(const SafetensorsModel& f, WeightTarget& target) {
  std::set<std::string> used;
  for (Param* p : target.whole().params()) {
    check_entry(f, p->name, p->value.shape());
    if (target.holds(*p)) target.set(*p, f.to_f32(p->name), f.path());
    used.insert(p->name);
  }
  refuse_leftovers(f, used, [](const std::string&) { return false; });
}

}  // namespace

void save_safetensors_weights(const std::string& dir, Model& model, WeightNames names,
                              DType dtype) {
  std::vector<SafetensorsItem> items;
  std::optional<Gpt2Layout> gpt2;
  if (names == WeightNames::HuggingFace) {
    gpt2 = gpt2_layout(model, "safetensors in transformers' names");
    for (const HfTensor& t : hf_gpt2_tensors(*gpt2))
      items.push_back({kHfPrefix + t.name, hf_shape(t), [t] { return to_hf(t); }});
  } else {
    for (Param* p : model.params())
      items.push_back({p->name, p->value.shape(), [p] { return p->value.to(Device::cpu()); }});
  }
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw OutputError("cannot write " + dir + ": " + ec.message());
  // transformers refuses a safetensors file whose metadata names no known format.
  write_safetensors(dir + "/model.safetensors", items, dtype,
                    {{"format", "pt"}, {"producer", "trainer"}});
  if (gpt2) write_file_durably(dir + "/config.json", hf_gpt2_config(gpt2->sizes, dtype));
}

void load_safetensors_weights(const std::string& path, WeightTarget& target) {
  const SafetensorsModel f(path);
  if (const auto prefix = hf_prefix(f))
    load_hf(f, *prefix, target);
  else
    load_trainer_names(f, target);
  target.finish();
}

std::optional<Gpt2Sizes> hf_gpt2_sizes(const std::string& path) {
  const SafetensorsModel f(path);
  const auto prefix = hf_prefix(f);
  if (!prefix) return std::nullopt;
  const auto shape = [&](const std::string& name) {
    const SafetensorsEntry* e = f.find(*prefix + name);
    if (!e || e->shape.size() != 2)
      throw DataError(path + ": no two-dimensional tensor '" + *prefix + name + "'");
    return e->shape;
  };
  Gpt2Sizes s;
  s.vocab = shape("wte.weight")[0];
  s.channels = shape("wte.weight")[1];
  s.max_positions = shape("wpe.weight")[0];
  while (f.has(*prefix + "h." + std::to_string(s.layers) + ".ln_1.weight")) ++s.layers;
  const std::filesystem::path config = std::filesystem::path(path).parent_path() / "config.json";
  std::ifstream in(config);
  if (!in) return s;
  try {
    const nlohmann::json c = nlohmann::json::parse(in);
    if (c.contains("n_head") && c["n_head"].is_number_unsigned()) s.heads = c["n_head"];
  } catch (const nlohmann::json::exception& e) {
    throw DataError(config.string() + ": not JSON (" + e.what() + ")");
  }
  return s;
}

}  // namespace trainer
