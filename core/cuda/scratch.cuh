// Device memory for the length of one call (a workspace, per-row partial results), from the
// caching allocator. Given back when it goes out of scope, right after its kernels are queued:
// the block's next user runs later on the same stream, so it never overwrites them early.
#pragma once

#include <cstddef>

#include "core/cuda/runtime.cuh"

namespace trainer::cuda {

class Scratch {
 public:
  explicit Scratch(size_t bytes) : bytes_(bytes), p_(bytes ? device_allocate(bytes) : nullptr) {}
  ~Scratch() { device_free(p_, bytes_); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;

  template <class T = void>
  T* get() const {
    return static_cast<T*>(p_);
  }
  size_t bytes() const { return bytes_; }

 private:
  size_t bytes_;
  void* p_;
};

}  // namespace trainer::cuda
