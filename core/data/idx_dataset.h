// Images and labels from a pair of IDX files: unsigned-byte images (MNIST, Fashion-MNIST) scaled
// to [0, 1], or float images taken as they are, every value checked finite at load.
#pragma once

#include "core/data/dataset.h"

namespace trainer {

class IdxDataset : public Dataset {
 public:
  IdxDataset(const std::string& images_path, const std::string& labels_path);
  static std::unique_ptr<Dataset> create(Args& args, Split split);

  int64_t size() const override { return n_; }
  Shape sample_shape() const override { return {1, h_, w_}; }
  int64_t num_classes() const override { return classes_; }
  void gather(const int64_t* indices, int64_t n, void* x, int32_t* y) const override;

 private:
  int64_t n_ = 0, h_ = 0, w_ = 0, classes_ = 0;
  std::vector<uint8_t> images_;      // (n, h, w), kept as bytes: a quarter of the memory of f32
  std::vector<float> float_images_;  // (n, h, w), when the file holds floats
  std::vector<uint8_t> labels_;
};

}  // namespace trainer
