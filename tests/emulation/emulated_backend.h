// The CUDA backend's kernel files compiled as host code on the emulation (cuda_emulation.h), in
// namespace `emulated`: emulated::trainer::cuda::layer_norm_forward(...) runs norm.cu as it is,
// its launches and its kernels, on host memory. The cuBLAS and cuBLASLt calls of linear.cu and
// attention.cu go to host stand-ins (emulated_cublas.h), and the embedding's three CUB calls to
// theirs in tests/emulation/include (first on this test's include path), so those files run too;
// conv.cu (cuDNN) has no stand-in and is left out.
//
// How: every header those files include comes first, here, at global scope, so that inside
// namespace `emulated` below their include guards make the files' own #includes no-ops; the
// files' names then resolve to what `emulated::trainer::cuda` declares before them (host memory
// for device allocations and copies, the emulation's launch, no stream) and otherwise, through the
// using-directives, to the real ::trainer::cuda and ::trainer (element types, reductions, the CPU
// twins' row functions). A file that calls into another (the loss into the casts) comes after it.
#pragma once

#include "tests/emulation/cuda_emulation.h"
// The emulation first: what follows takes its barriers, shuffles and launch.

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <cub/device/device_radix_sort.cuh>
#include <cub/device/device_run_length_encode.cuh>
#include <cub/device/device_scan.cuh>
#include <initializer_list>
#include <map>
#include <mutex>
#include <tuple>
#include <type_traits>
#include <vector>

#include "core/cpu/embedding.h"
#include "core/cpu/gelu_tanh.h"
#include "core/cpu/loss_rows.h"
#include "core/cpu/norm.h"
#include "core/cuda/attention.cuh"
#include "core/cuda/blas_handle.cuh"
#include "core/cuda/cast.cuh"
#include "core/cuda/element.cuh"
#include "core/cuda/elementwise.cuh"
#include "core/cuda/embedding.cuh"
#include "core/cuda/flash_attention.cuh"
#include "core/cuda/flash_attention_kernels.cuh"
#include "core/cuda/gather.cuh"
#include "core/cuda/launch.cuh"
#include "core/cuda/loss.cuh"
#include "core/cuda/norm.cuh"
#include "core/cuda/optim.cuh"
#include "core/cuda/pool.cuh"
#include "core/cuda/reduce.cuh"
#include "core/cuda/runtime.cuh"
#include "core/half.h"
#include "tests/emulation/emulated_cublas.h"

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
void allow_shared_memory(void (*kernel)(Params...), size_t bytes) {
  emu::allow_shared(reinterpret_cast<const void*>(kernel), bytes);
}

inline void copy(void* dst, const void* src, size_t bytes) { std::memcpy(dst, src, bytes); }
inline void memset_zero(void* dst, size_t bytes) { std::memset(dst, 0, bytes); }

// Device memory as host memory, 256-byte aligned as cudaMalloc's, and filled with ones bits
// (NaN in every float type, -1 as an integer): the device's holds whatever was there, so a
// kernel that reads scratch it did not write must not find zeros here either. core/cuda/scratch.cuh
// is first included below, inside namespace emulated, so its Scratch allocates through these.
inline void* device_allocate(size_t bytes) {
  const size_t rounded = std::max<size_t>(256, (bytes + 255) / 256 * 256);
  void* p = std::aligned_alloc(256, rounded);
  if (p) std::memset(p, 0xff, rounded);
  return p;
}
inline void device_free(void* p, size_t) { std::free(p); }

}  // namespace emulated::trainer::cuda

// The files' cuBLAS calls go to the host stand-ins (tests/emulation/emulated_cublas.h); two of
// the names are cublas_v2.h's aliases of the _v2 functions, given back after the files.
#undef cublasCreate
#undef cublasSetStream
#define cublasCreate ::emulated::blas::create
#define cublasSetStream ::emulated::blas::set_stream
#define cublasSetMathMode ::emulated::blas::set_math_mode
#define cublasGemmEx ::emulated::blas::gemm_ex
#define cublasGemmStridedBatchedEx ::emulated::blas::gemm_strided_batched_ex
#define cublasLtCreate ::emulated::blas::lt_create
#define cublasLtMatmulDescCreate ::emulated::blas::lt_matmul_desc_create
#define cublasLtMatmulDescSetAttribute ::emulated::blas::lt_matmul_desc_set_attribute
#define cublasLtMatrixLayoutCreate ::emulated::blas::lt_matrix_layout_create
#define cublasLtMatmulPreferenceCreate ::emulated::blas::lt_matmul_preference_create
#define cublasLtMatmulPreferenceSetAttribute ::emulated::blas::lt_matmul_preference_set_attribute
#define cublasLtMatmulPreferenceDestroy ::emulated::blas::lt_matmul_preference_destroy
#define cublasLtMatmulAlgoGetHeuristic ::emulated::blas::lt_matmul_algo_get_heuristic
#define cublasLtMatmul ::emulated::blas::lt_matmul

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
#include "core/cuda/linear.cu"
#include "core/cuda/attention.cu"
#include "core/cuda/embedding.cu"
// clang-format on
}  // namespace emulated

#undef cublasCreate
#undef cublasSetStream
#undef cublasSetMathMode
#undef cublasGemmEx
#undef cublasGemmStridedBatchedEx
#undef cublasLtCreate
#undef cublasLtMatmulDescCreate
#undef cublasLtMatmulDescSetAttribute
#undef cublasLtMatrixLayoutCreate
#undef cublasLtMatmulPreferenceCreate
#undef cublasLtMatmulPreferenceSetAttribute
#undef cublasLtMatmulPreferenceDestroy
#undef cublasLtMatmulAlgoGetHeuristic
#undef cublasLtMatmul
#define cublasCreate cublasCreate_v2
#define cublasSetStream cublasSetStream_v2
