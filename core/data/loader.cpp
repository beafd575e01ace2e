#include "core/data/loader.h"

#include <numeric>

#include "core/error.h"
#include "core/rng.h"

namespace trainer {

DataLoader::DataLoader(const Dataset& data, int64_t batch_size, bool shuffle, uint64_t seed)
    : data_(data), batch_size_(batch_size), shuffle_(shuffle), seed_(seed) {}

int64_t DataLoader::batches_per_epoch() const {
  return shuffle_ ? data_.size() / batch_size_ : (data_.size() + batch_size_ - 1) / batch_size_;
}

int64_t DataLoader::batch_rows(int64_t b) const {
  return std::min(batch_size_, data_.size() - b * batch_size_);
}

// Fisher-Yates with our own generator: std::shuffle's result differs between standard libraries.
void DataLoader::ensure_order(int64_t epoch) {
  if (epoch == order_epoch_) return;
  order_.resize(static_cast<size_t>(data_.size()));
  std::iota(order_.begin(), order_.end(), 0);
  if (shuffle_) {
    Rng rng(make_key(
        {static_cast<uint64_t>(RngPurpose::Shuffle), seed_, static_cast<uint64_t>(epoch)}));
    for (size_t i = order_.size(); i > 1; --i) std::swap(order_[i - 1], order_[rng.below(i)]);
  }
  order_epoch_ = epoch;
}

Batch DataLoader::load(int64_t epoch, int64_t b, int64_t begin, int64_t end, bool inputs) {
  if (b < 0 || b >= batches_per_epoch() || begin < 0 || end > batch_rows(b) || begin > end)
    throw InternalError("DataLoader::load: batch " + std::to_string(b) + " rows [" +
                        std::to_string(begin) + ", " + std::to_string(end) + ") out of range");
  ensure_order(epoch);
  Shape xs = data_.sample_shape();
  xs.insert(xs.begin(), end - begin);
  Batch batch{inputs ? Tensor::empty(xs) : Tensor(), Tensor::empty({end - begin}, DType::I32)};
  data_.gather(order_.data() + b * batch_size_ + begin, end - begin,
               inputs ? batch.x.f32() : nullptr, batch.y.i32());
  return batch;
}

}  // namespace trainer
