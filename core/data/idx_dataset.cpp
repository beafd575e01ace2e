#include "core/data/idx_dataset.h"

#include <algorithm>
#include <cmath>

#include "core/data/idx.h"
#include "core/error.h"

namespace trainer {

IdxDataset::IdxDataset(const std::string& images_path, const std::string& labels_path) {
  IdxArray images = read_idx(images_path, 3, /*allow_float=*/true);
  IdxArray labels = read_idx(labels_path, 1);
  if (images.dims[0] != labels.dims[0])
    throw DataError(images_path + " holds " + std::to_string(images.dims[0]) + " images but " +
                    labels_path + " holds " + std::to_string(labels.dims[0]) + " labels");
  n_ = images.dims[0];
  h_ = images.dims[1];
  w_ = images.dims[2];
  if (images.type == IdxType::Float) {
    // A NaN or an infinity in the inputs would surface steps later as a non-finite loss with no
    // clue where it came from: name the sample now.
    float_images_ = images.floats();
    const int64_t per = h_ * w_;
    for (size_t i = 0; i < float_images_.size(); ++i)
      if (!std::isfinite(float_images_[i])) {
        const int64_t sample = static_cast<int64_t>(i) / per, pixel = static_cast<int64_t>(i) % per;
        throw DataError(images_path + ": image " + std::to_string(sample) + " holds " +
                        (std::isnan(float_images_[i]) ? "NaN" : "an infinity") + " at row " +
                        std::to_string(pixel / w_) + ", column " + std::to_string(pixel % w_) +
                        "; inputs must be finite");
      }
  } else {
    images_ = std::move(images.data);
  }
  labels_ = std::move(labels.data);
  classes_ = labels_.empty() ? 0 : *std::max_element(labels_.begin(), labels_.end()) + 1;
}

std::unique_ptr<Dataset> IdxDataset::create(Args& args, Split) {
  const std::string images = args.text("images", std::nullopt);
  const std::string labels = args.text("labels", std::nullopt);
  return std::make_unique<IdxDataset>(images, labels);
}

void IdxDataset::gather(const int64_t* indices, int64_t n, void* out, int32_t* y) const {
  float* x = static_cast<float*>(out);
  const int64_t per = h_ * w_;
  constexpr float kScale = 1.0f / 255.0f;
  for (int64_t i = 0; i < n; ++i) {
    y[i] = labels_[static_cast<size_t>(indices[i])];
    if (!x) continue;
    float* dst = x + i * per;
    if (!float_images_.empty()) {
      std::copy_n(float_images_.data() + indices[i] * per, per, dst);
      continue;
    }
    const uint8_t* src = images_.data() + indices[i] * per;
    for (int64_t j = 0; j < per; ++j) dst[j] = static_cast<float>(src[j]) * kScale;
  }
}

}  // namespace trainer
