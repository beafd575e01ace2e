#include "core/data/synthetic_dataset.h"

#include "core/rng.h"

namespace trainer {

SyntheticDataset::SyntheticDataset(int64_t samples, Shape shape, int64_t classes, float noise,
                                   uint64_t seed, Split split)
    : samples_(samples),
      shape_(std::move(shape)),
      classes_(classes),
      noise_(noise),
      seed_(seed),
      split_(split) {
  const int64_t per = shape_numel(shape_);
  prototypes_.resize(static_cast<size_t>(classes_ * per));
  Rng rng(make_key({static_cast<uint64_t>(RngPurpose::Synthetic), seed_}));
  for (float& v : prototypes_) v = rng.normal();
}

std::unique_ptr<Dataset> SyntheticDataset::create(Args& args, Split split) {
  const int64_t samples = args.integer("samples", split == Split::Train ? 60000 : 10000, 1);
  const std::vector<int64_t> shape = args.integers("shape", std::vector<int64_t>{1, 28, 28});
  for (int64_t d : shape)
    if (d < 1) args.fail("shape", "every dimension must be at least 1, got " + shape_str(shape));
  const int64_t classes = args.integer("classes", 10, 2);
  const double noise = args.number("noise", 1.0, 0.0, 1e6);
  const int64_t seed = args.integer("seed", 0, 0, INT64_MAX);
  return std::make_unique<SyntheticDataset>(samples, shape, classes, static_cast<float>(noise),
                                            static_cast<uint64_t>(seed), split);
}

void SyntheticDataset::gather(const int64_t* indices, int64_t n, void* out, int32_t* y) const {
  float* x = static_cast<float*>(out);
  const int64_t per = shape_numel(shape_);
  for (int64_t i = 0; i < n; ++i) {
    Rng rng(make_key({static_cast<uint64_t>(RngPurpose::Synthetic), seed_,
                      static_cast<uint64_t>(split_) + 1, static_cast<uint64_t>(indices[i])}));
    const int64_t label = static_cast<int64_t>(rng.below(static_cast<uint64_t>(classes_)));
    y[i] = static_cast<int32_t>(label);
    if (!x) continue;
    const float* proto = prototypes_.data() + label * per;
    float* dst = x + i * per;
    for (int64_t j = 0; j < per; ++j) dst[j] = proto[j] + noise_ * rng.normal();
  }
}

}  // namespace trainer
