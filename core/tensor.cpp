#include "core/tensor.h"

#include <cstring>
#include <sstream>

#include "core/allocator.h"
#include "core/error.h"
#ifdef TRAINER_HAS_CUDA
#include "core/cuda/elementwise.cuh"
#include "core/cuda/runtime.cuh"
#endif

namespace trainer {

size_t dtype_size(DType t) {
  switch (t) {
    case DType::F32:
      return 4;
    case DType::I32:
      return 4;
    case DType::F16:
      return 2;
    case DType::BF16:
      return 2;
  }
  return 0;
}

const char* dtype_name(DType t) {
  switch (t) {
    case DType::F32:
      return "f32";
    case DType::I32:
      return "i32";
    case DType::F16:
      return "f16";
    case DType::BF16:
      return "bf16";
  }
  return "?";
}

std::string shape_str(const Shape& s) {
  std::ostringstream o;
  o << '[';
  for (size_t i = 0; i < s.size(); ++i) o << (i ? ", " : "") << s[i];
  o << ']';
  return o.str();
}

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s)
    if (__builtin_mul_overflow(n, d, &n))
      throw MemoryError("a tensor of shape " + shape_str(s) + " has more elements than 2^63");
  return n;
}

Storage::Storage(size_t bytes, Device device) : bytes_(bytes), device_(device) {
  if (device.is_cpu()) {
    data_ = host_allocate(bytes);
    return;
  }
#ifdef TRAINER_HAS_CUDA
  data_ = cuda::device_allocate(bytes);
#else
  throw InternalError("this build has no CUDA backend");
#endif
}

Storage::~Storage() {
#ifdef TRAINER_HAS_CUDA
  if (!device_.is_cpu()) {
    cuda::device_free(data_, bytes_);
    return;
  }
#endif
  host_free(data_, bytes_);
}

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  for (int64_t d : shape)
    if (d < 0) throw InternalError("negative dimension in shape " + shape_str(shape));
  Tensor t;
  t.shape_ = shape;
  t.dtype_ = dtype;
  t.device_ = device;
  size_t bytes = 0;
  if (__builtin_mul_overflow(static_cast<size_t>(shape_numel(shape)), dtype_size(dtype), &bytes))
    throw MemoryError("a tensor of shape " + shape_str(shape) + " has more bytes than 2^64");
  t.storage_ = std::make_shared<Storage>(bytes, device);
  return t;
}

Tensor Tensor::shape_only(const Shape& shape, DType dtype) {
  Tensor t;
  t.shape_ = shape;
  t.dtype_ = dtype;
  return t;
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  t.zero();
  return t;
}

template <class T>
static constexpr DType dtype_of();
template <>
constexpr DType dtype_of<float>() {
  return DType::F32;
}
template <>
constexpr DType dtype_of<int32_t>() {
  return DType::I32;
}

template <class T>
T* Tensor::data() const {
  if (dtype_ != dtype_of<T>())
    throw InternalError(std::string("tensor is ") + dtype_name(dtype_) + ", accessed as " +
                        dtype_name(dtype_of<T>()));
  return static_cast<T*>(raw());
}
template float* Tensor::data<float>() const;
template int32_t* Tensor::data<int32_t>() const;

void* Tensor::raw() const {
  if (!storage_) throw InternalError("access to an undefined tensor");
  return static_cast<char*>(storage_->data()) + offset_bytes_;
}

Tensor Tensor::slice0(int64_t begin, int64_t end) const {
  if (shape_.empty() || begin < 0 || end > shape_[0] || begin > end)
    throw InternalError("slice0 [" + std::to_string(begin) + ", " + std::to_string(end) +
                        ") out of range for " + shape_str(shape_));
  Tensor t = *this;
  size_t row_bytes = shape_[0] == 0 ? 0 : bytes() / static_cast<size_t>(shape_[0]);
  t.offset_bytes_ += static_cast<size_t>(begin) * row_bytes;
  t.shape_[0] = end - begin;
  return t;
}

Tensor Tensor::reshape(const Shape& shape) const {
  if (shape_numel(shape) != numel())
    throw InternalError("cannot reshape " + shape_str(shape_) + " to " + shape_str(shape));
  Tensor t = *this;
  t.shape_ = shape;
  return t;
}

Tensor Tensor::view(int64_t offset, const Shape& shape) const {
  if (offset < 0 || offset + shape_numel(shape) > numel())
    throw InternalError("view of " + shape_str(shape) + " at " + std::to_string(offset) +
                        " out of range for " + shape_str(shape_));
  Tensor t = *this;
  t.offset_bytes_ += static_cast<size_t>(offset) * dtype_size(dtype_);
  t.shape_ = shape;
  return t;
}

Tensor Tensor::clone() const {
  Tensor t = empty(shape_, dtype_, device_);
  t.copy_from(*this);
  return t;
}

void Tensor::copy_from(const Tensor& src) {
  if (shape_numel(src.shape_) != numel() || src.dtype_ != dtype_)
    throw InternalError("copy_from: " + shape_str(src.shape_) + " " + dtype_name(src.dtype_) +
                        " into " + shape_str(shape_) + " " + dtype_name(dtype_));
#ifdef TRAINER_HAS_CUDA
  if (!device_.is_cpu() || !src.device_.is_cpu()) return cuda::copy(raw(), src.raw(), bytes());
#endif
  std::memcpy(raw(), src.raw(), bytes());
}

void Tensor::copy_from_host(const void* src, size_t size) {
  if (size > bytes())
    throw InternalError("copy_from_host: " + std::to_string(size) + " bytes into " +
                        std::to_string(bytes()));
#ifdef TRAINER_HAS_CUDA
  if (!device_.is_cpu()) return cuda::copy(raw(), src, size);
#endif
  std::memcpy(raw(), src, size);
}

void Tensor::copy_to_host(void* dst, size_t size) const {
  if (size > bytes())
    throw InternalError("copy_to_host: " + std::to_string(size) + " bytes out of " +
                        std::to_string(bytes()));
#ifdef TRAINER_HAS_CUDA
  if (!device_.is_cpu()) return cuda::copy(dst, raw(), size);
#endif
  std::memcpy(dst, raw(), size);
}

Tensor Tensor::to(Device device) const {
  if (device == device_) return *this;
  Tensor t = empty(shape_, dtype_, device);
  t.copy_from(*this);
  return t;
}

void Tensor::zero() {
#ifdef TRAINER_HAS_CUDA
  if (!device_.is_cpu()) return cuda::memset_zero(raw(), bytes());
#endif
  std::memset(raw(), 0, bytes());
}

void Tensor::fill(float value) {
#ifdef TRAINER_HAS_CUDA
  if (!device_.is_cpu()) return cuda::fill(numel(), value, f32());
#endif
  float* p = f32();
  for (int64_t i = 0, n = numel(); i < n; ++i) p[i] = value;
}

}  // namespace trainer
