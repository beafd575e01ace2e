#include "core/layers/init.h"

#include <cmath>

#include "core/rng.h"

namespace trainer {

InitScheme init_scheme_arg(Args& args) {
  const std::string s = args.choice("init", std::string("default"), {"default", "he", "xavier"});
  if (s == "he") return InitScheme::He;
  if (s == "xavier") return InitScheme::Xavier;
  return InitScheme::Default;
}

uint64_t InitContext::key() const {
  const auto index = static_cast<uint64_t>(layer_index);
  return sub.empty() ? index : make_key({index, name_key(sub.c_str())});
}

void init_normal(const InitContext& ctx, const char* param, float stddev, Tensor& t,
                 const ParamSplit& split) {
  if (ctx.shapes_only) return;
  if (split.split()) {  // drawn whole (one stream), then sliced
    Tensor full = Tensor::empty(full_shape(t.shape(), split));
    init_normal(ctx, param, stddev, full);
    return t.copy_from(take_slice(full, split));
  }
  const std::string path = ctx.sub + "." + param;
  Rng rng(make_key({static_cast<uint64_t>(RngPurpose::Init), ctx.seed,
                    static_cast<uint64_t>(ctx.layer_index), name_key(path.c_str())}));
  float* w = t.f32();
  for (int64_t i = 0; i < t.numel(); ++i) w[i] = stddev * rng.normal();
}

void init_parameters(InitScheme scheme, const InitContext& ctx, int64_t fan_in, int64_t fan_out,
                     Tensor& weight, Tensor* bias) {
  if (ctx.shapes_only) return;
  Rng rng(make_key({static_cast<uint64_t>(RngPurpose::Init), ctx.seed, ctx.key()}));
  float* w = weight.f32();
  const int64_t n = weight.numel();
  const float inv_sqrt_fan_in = 1.0f / std::sqrt(static_cast<float>(fan_in));
  switch (scheme) {
    case InitScheme::Default:
      for (int64_t i = 0; i < n; ++i) w[i] = rng.uniform(-inv_sqrt_fan_in, inv_sqrt_fan_in);
      break;
    case InitScheme::He: {
      const float sd = std::sqrt(2.0f / static_cast<float>(fan_in));
      for (int64_t i = 0; i < n; ++i) w[i] = sd * rng.normal();
      break;
    }
    case InitScheme::Xavier: {
      const float a = std::sqrt(6.0f / static_cast<float>(fan_in + fan_out));
      for (int64_t i = 0; i < n; ++i) w[i] = rng.uniform(-a, a);
      break;
    }
  }
  if (!bias || !bias->defined()) return;
  float* b = bias->f32();
  for (int64_t i = 0; i < bias->numel(); ++i)
    b[i] = scheme == InitScheme::Default ? rng.uniform(-inv_sqrt_fan_in, inv_sqrt_fan_in) : 0.0f;
}

}  // namespace trainer
