// Tensor: a shape, a dtype, a device and shared contiguous storage.
//
// There is no autograd: layers write their own backward. A view along the first dimension
// (`slice0`) shares storage, so splitting a batch into micro-batches costs nothing.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace trainer {

using Shape = std::vector<int64_t>;

enum class DType { F32, F16, BF16, I32 };
enum class DeviceKind { CPU, CUDA };

struct Device {
  DeviceKind kind = DeviceKind::CPU;
  int index = 0;
  static Device cpu() { return {}; }
  static Device cuda(int index) { return {DeviceKind::CUDA, index}; }
  bool is_cpu() const { return kind == DeviceKind::CPU; }
  bool operator==(const Device& o) const { return kind == o.kind && index == o.index; }
  bool operator!=(const Device& o) const { return !(*this == o); }
};

size_t dtype_size(DType t);
const char* dtype_name(DType t);
std::string shape_str(const Shape& s);
int64_t shape_numel(const Shape& s);

// Raw memory of one device; freed through the allocator that made it.
class Storage {
 public:
  Storage(size_t bytes, Device device);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }
  Device device() const { return device_; }

 private:
  void* data_ = nullptr;
  size_t bytes_ = 0;
  Device device_;
};

class Tensor {
 public:
  Tensor() = default;
  static Tensor empty(const Shape& shape, DType dtype = DType::F32, Device device = Device::cpu());
  static Tensor zeros(const Shape& shape, DType dtype = DType::F32, Device device = Device::cpu());
  // A shape with no storage (undefined, its elements never accessible): the parameters of a
  // layer built only for its costs, so that planning a model of any size allocates nothing.
  static Tensor shape_only(const Shape& shape, DType dtype = DType::F32);

  bool defined() const { return storage_ != nullptr; }
  const Shape& shape() const { return shape_; }
  int ndim() const { return static_cast<int>(shape_.size()); }
  int64_t dim(int i) const { return shape_.at(static_cast<size_t>(i < 0 ? i + ndim() : i)); }
  int64_t numel() const { return shape_numel(shape_); }
  size_t bytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype_); }
  DType dtype() const { return dtype_; }
  Device device() const { return device_; }

  // Typed access; throws InternalError when T does not match the dtype.
  template <class T>
  T* data() const;
  float* f32() const { return data<float>(); }
  int32_t* i32() const { return data<int32_t>(); }
  void* raw() const;

  // Rows [begin, end) of the first dimension, sharing storage.
  Tensor slice0(int64_t begin, int64_t end) const;
  // The same storage seen with another shape of equal element count.
  Tensor reshape(const Shape& shape) const;
  // Elements [offset, offset + numel(shape)) of this tensor, seen with `shape`, sharing storage.
  Tensor view(int64_t offset, const Shape& shape) const;
  Tensor clone() const;
  // This tensor on `device` (itself when it is there already; a copy otherwise).
  Tensor to(Device device) const;
  // Copies src's elements in, between any two devices; returns when host data is in place.
  void copy_from(const Tensor& src);
  // The first `size` bytes of this tensor from host memory at src, or into host memory at dst
  // (a plain struct kept in device memory); the same guarantees as copy_from.
  void copy_from_host(const void* src, size_t size);
  void copy_to_host(void* dst, size_t size) const;
  void zero();
  void fill(float value);

 private:
  std::shared_ptr<Storage> storage_;
  size_t offset_bytes_ = 0;
  Shape shape_;
  DType dtype_ = DType::F32;
  Device device_;
};

}  // namespace trainer
