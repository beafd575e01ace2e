#include "core/data/loader.h"

#include <numeric>

#include "core/error.h"
#include "core/ops.h"
#ifdef TRAINER_HAS_CUDA
#include "core/cuda/runtime.cuh"
#endif
#include "core/rng.h"

namespace trainer {

static Shape with_rows(int64_t n, Shape per_sample) {
  per_sample.insert(per_sample.begin(), n);
  return per_sample;
}

// The n samples at `indices` as one host batch (x left undefined without inputs).
static Batch gather_all(const Dataset& data, int64_t n, const int64_t* indices, bool inputs) {
  Batch batch{
      inputs ? Tensor::empty(with_rows(n, data.sample_shape()), data.input_dtype()) : Tensor(),
      Tensor::empty(with_rows(n, data.target_shape()), DType::I32)};
  data.gather(indices, n, inputs ? batch.x.raw() : nullptr, batch.y.i32());
  return batch;
}

static bool fits_on_device(Device device, [[maybe_unused]] size_t bytes) {
  if (device.is_cpu()) return false;
#ifdef TRAINER_HAS_CUDA
  return bytes <= cuda::free_memory() / 4;
#else
  return false;
#endif
}

DataLoader::DataLoader(const Dataset& data, int64_t batch_size, bool shuffle, uint64_t seed,
                       Device device)
    : data_(data), batch_size_(batch_size), shuffle_(shuffle), seed_(seed), device_(device) {
  const size_t bytes =
      static_cast<size_t>(data.size()) *
      (dtype_size(data.input_dtype()) * static_cast<size_t>(shape_numel(data.sample_shape())) +
       sizeof(int32_t) * static_cast<size_t>(shape_numel(data.target_shape())));
  if (!fits_on_device(device, bytes)) return;
  std::vector<int64_t> all(static_cast<size_t>(data.size()));
  std::iota(all.begin(), all.end(), 0);
  const Batch host = gather_all(data, data.size(), all.data(), true);
  all_ = {host.x.to(device), host.y.to(device)};
}

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
  const int64_t n = end - begin;
  const int64_t* indices = order_.data() + b * batch_size_ + begin;
  if (!resident()) {
    Batch batch = gather_all(data_, n, indices, inputs);
    if (inputs) batch.x = batch.x.to(device_);
    batch.y = batch.y.to(device_);
    return batch;
  }
  Tensor idx = Tensor::empty({n}, DType::I32);
  for (int64_t i = 0; i < n; ++i) idx.i32()[i] = static_cast<int32_t>(indices[i]);
  idx = idx.to(device_);
  Batch batch{inputs ? Tensor::empty(with_rows(n, data_.sample_shape()), all_.x.dtype(), device_)
                     : Tensor(),
              Tensor::empty(with_rows(n, data_.target_shape()), DType::I32, device_)};
  if (inputs) ops::gather_rows(all_.x, idx, batch.x);
  ops::gather_rows(all_.y, idx, batch.y);
  return batch;
}

}  // namespace trainer
