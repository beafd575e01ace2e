// A synthetic classification set for benchmarks and tests: each class has a fixed random
// prototype and a sample is its prototype plus Gaussian noise. Nothing is stored: a sample is a
// pure function of (seed, split, index), so any size costs no memory and is learnable.
#pragma once

#include "core/data/dataset.h"

namespace trainer {

class SyntheticDataset : public Dataset {
 public:
  SyntheticDataset(int64_t samples, Shape shape, int64_t classes, float noise, uint64_t seed,
                   Split split);
  static std::unique_ptr<Dataset> create(Args& args, Split split);

  int64_t size() const override { return samples_; }
  Shape sample_shape() const override { return shape_; }
  int64_t num_classes() const override { return classes_; }
  void gather(const int64_t* indices, int64_t n, void* x, int32_t* y) const override;

 private:
  int64_t samples_;
  Shape shape_;
  int64_t classes_;
  float noise_;
  uint64_t seed_;
  Split split_;
  std::vector<float> prototypes_;  // (classes, sample...)
};

}  // namespace trainer
