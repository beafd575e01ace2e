#include "core/generate.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/ops.h"
#include "core/rng.h"

namespace trainer {

// A token drawn from softmax(logits / temperature); the argmax at temperature 0.
static int32_t draw(const float* logits, int64_t V, float temperature, Rng& rng) {
  const int64_t best = std::max_element(logits, logits + V) - logits;
  if (temperature <= 0.0f) return static_cast<int32_t>(best);
  std::vector<double> p(static_cast<size_t>(V));
  double sum = 0.0;
  for (int64_t v = 0; v < V; ++v)
    sum += p[static_cast<size_t>(v)] = std::exp((logits[v] - logits[best]) / temperature);
  double u = rng.uniform() * sum;
  for (int64_t v = 0; v < V; ++v)
    if ((u -= p[static_cast<size_t>(v)]) <= 0.0) return static_cast<int32_t>(v);
  return static_cast<int32_t>(best);
}

// The model's logits (T, VP), f32 on the host, over the last n = min(T, size) tokens of
// `tokens` (padded at the end, which a causal model never looks at); the first V of each row are
// the vocabulary's (Model::classes), the rest padding.
static Tensor context_logits(Model& model, const std::vector<int32_t>& tokens, int64_t& n) {
  const int64_t T = model.input_shape().at(0);
  n = std::min<int64_t>(T, static_cast<int64_t>(tokens.size()));
  Tensor x = Tensor::zeros({1, T}, DType::I32);
  std::copy(tokens.end() - n, tokens.end(), x.i32());
  ModelStash stash;
  const ForwardContext eval{false, 0, 0, 0};
  return ops::cast(model.forward(x.to(model.device()), stash, eval), DType::F32).to(Device::cpu());
}

std::vector<int32_t> generate(Model& model, const std::vector<int32_t>& prompt,
                              const SampleOptions& options) {
  if (prompt.empty()) throw ConfigError("the prompt must hold at least one token");
  const int64_t VP = model.output_shape().at(1), V = model.classes();
  model.refresh_compute_weights();
  std::vector<int32_t> all = prompt, out;
  for (int64_t i = 0; i < options.tokens; ++i) {
    int64_t n = 0;
    const Tensor logits = context_logits(model, all, n);
    Rng rng(make_key({static_cast<uint64_t>(RngPurpose::Sample), options.seed,
                      static_cast<uint64_t>(all.size())}));
    const int32_t next = draw(logits.f32() + (n - 1) * VP, V, options.temperature, rng);
    all.push_back(next);
    out.push_back(next);
  }
  return out;
}

Tensor prompt_logits(Model& model, const std::vector<int32_t>& prompt) {
  const int64_t T = model.input_shape().at(0), VP = model.output_shape().at(1);
  const int64_t V = model.classes();
  if (prompt.empty() || static_cast<int64_t>(prompt.size()) > T)
    throw ConfigError("the prompt must hold 1 to " + std::to_string(T) +
                      " tokens (the model's context), got " + std::to_string(prompt.size()));
  model.refresh_compute_weights();
  int64_t n = 0;
  const Tensor all = context_logits(model, prompt, n);
  Tensor out = Tensor::empty({n, V});
  for (int64_t t = 0; t < n; ++t) std::copy_n(all.f32() + t * VP, V, out.f32() + t * V);
  return out;
}

}  // namespace trainer
