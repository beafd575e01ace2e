// The CUDA backend's kernel files compiled as host code on the emulation (cuda_emulation.h), in
// namespace `emulated`: emulated::trainer::cuda::layer_norm_forward(...) runs norm.cu as it is,
// its launches and its kernels, on host memory. Those that call a library (cuBLAS, cuDNN, CUB:
// linear, conv, the unfused attention, the embedding) have no host emulation and are left out.
//
// How: every header those files include comes first, here, at global scope, so that inside
// namespace `emulated` below their include guards make the files' own #includes no-ops; the
// files' names then resolve to what `emulated::trainer::cuda` declares before them (host memory
// for Scratch and copies, the emulation's launch, no stream) and otherwise, through the
// using-directives, to the real ::trainer::cuda and ::trainer (element types, reductions, the CPU
// twins' row functions). A file that calls into another (the loss into the casts) comes after it.
#pragma once

#include "tests/emulation/cuda_emulation.h"
// The emulation first: what follows takes its barriers, shuffles and launch.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <type_traits>
#include <vector>

#include "core/cpu/gelu_tanh.h"
#include "core/cpu/loss_rows.h"
#include "core/cpu/norm.h"
#include "core/cuda/cast.cuh"
#include "core/cuda/element.cuh"
#include "core/cuda/elementwise.cuh"
#include "core/cuda/flash_attention.cuh"
#include "core/cuda/flash_attention_kernels.cuh"
#include "core/cuda/gather.cuh"
#include "core/cuda/launch.cuh"
#include "core/cuda/loss.cuh"
#include "core/cuda/norm.cuh"
#include "core/cuda/optim.cuh"
#include "core/cuda/pool.cuh"
#include "core/cuda/reduce.cuh"
#include "core/cuda/scratch.cuh"
#include "core/half.h"

namespace emulated::trainer {
using namespace ::trainer;  // NOLINT(google-build-using-namespace): the files' own names
}  // namespace emulated::trainer

namespace emulated::trainer::cuda {
using namespace ::trainer::cuda;  // NOLINT(google-build-using-namespace)

inline cudaStream_t stream() { return nullptr; }

template <class... Params, class... Args>
void launch(void (*kernel)(Params...), dim3 grid, dim3 block, size_t shared_bytes, Args... args) {
  emu::launch(kernel, grid, block, shared_bytes, args...);
}

template <class... Params>
void allow_shared_memory(void (*)(Params...), size_t) {}

inline void copy(void* dst, const void* src, size_t bytes) { std::memcpy(dst, src, bytes); }

// Scratch's interface on host memory, zeroed (the device's is not: a kernel that reads what it
// did not write is caught by the GPU tests under compute-sanitizer, not here).
class Scratch {
 public:
  explicit Scratch(size_t bytes) : bytes_(bytes), p_(bytes ? std::calloc(1, bytes) : nullptr) {}
  ~Scratch() { std::free(p_); }
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

}  // namespace emulated::trainer::cuda

namespace emulated {
// clang-format off
#include "core/cuda/cast.cu"
#include "core/cuda/elementwise.cu"
#include "core/cuda/gather.cu"
#include "core/cuda/loss.cu"
#include "core/cuda/norm.cu"
#include "core/cuda/optim.cu"
#include "core/cuda/pool.cu"
#include "core/cuda/flash_attention.cu"
// clang-format on
}  // namespace emulated
