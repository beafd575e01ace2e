// The CUDA backend's kernel files compiled as host code on the emulation (cuda_emulation.h), in
// namespace `emulated`: emulated::trainer::cuda::layer_norm_forward(...) runs norm.cu as it is,
// its launches and its kernels, on host memory. Those that call a library (cuBLAS, cuDNN, CUB:
// linear, conv) have no host emulation and are left out; the one cuBLAS call of the unfused
// attention (a strided-batched GEMM) has a host twin below, and the embedding's three CUB calls
// have theirs in tests/emulation/include (first on this test's include path), so attention.cu and
// embedding.cu run too.
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
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <cub/device/device_radix_sort.cuh>
#include <cub/device/device_run_length_encode.cuh>
#include <cub/device/device_scan.cuh>
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
// kernel that reads scratch it did not write must not find zeros here either. core/cuda/scratch.cuh is first included below, inside namespace emulated, so its
// Scratch allocates through these.
inline void* device_allocate(size_t bytes) {
  const size_t rounded = std::max<size_t>(256, (bytes + 255) / 256 * 256);
  void* p = std::aligned_alloc(256, rounded);
  if (p) std::memset(p, 0xff, rounded);
  return p;
}
inline void device_free(void* p, size_t) { std::free(p); }

inline cublasHandle_t blas_handle() { return nullptr; }

// One element of a cuBLAS operand of `type` (fp32, fp16 or bf16) as a float, and back, rounded.
inline float element(const void* p, cudaDataType_t type, int64_t i) {
  if (type == CUDA_R_32F) return static_cast<const float*>(p)[i];
  const uint16_t bits = static_cast<const uint16_t*>(p)[i];
  return type == CUDA_R_16BF ? bf16_to_float(bits) : f16_to_float(bits);
}
inline void set_element(void* p, cudaDataType_t type, int64_t i, float v) {
  if (type == CUDA_R_32F)
    static_cast<float*>(p)[i] = v;
  else
    static_cast<uint16_t*>(p)[i] = type == CUDA_R_16BF ? float_to_bf16(v) : float_to_f16(v);
}

// cuBLAS's strided-batched GEMM, column-major, float accumulation, as attention.cu calls it:
// C = alpha op(A) op(B) + beta C for each of `batch` matrices.
// Its parameters match that call exactly (float scalars, int64_t strides), so overload
// resolution prefers it to cuBLAS's own, which argument-dependent lookup also finds.
inline cublasStatus_t cublasGemmStridedBatchedEx(cublasHandle_t, cublasOperation_t transa,
                                                 cublasOperation_t transb, int m, int n, int k,
                                                 const float* alpha, const void* A,
                                                 cudaDataType_t a_type, int lda, int64_t stride_a,
                                                 const void* B, cudaDataType_t b_type, int ldb,
                                                 int64_t stride_b, const float* beta, void* C,
                                                 cudaDataType_t c_type, int ldc, int64_t stride_c,
                                                 int batch, cublasComputeType_t, cublasGemmAlgo_t) {
  const float al = *alpha, be = *beta;
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t j = 0; j < n; ++j)
      for (int64_t i = 0; i < m; ++i) {
        float s = 0.0f;
        for (int64_t l = 0; l < k; ++l) {
          const int64_t ai = transa == CUBLAS_OP_N ? i + l * lda : l + i * lda;
          const int64_t bi = transb == CUBLAS_OP_N ? l + j * ldb : j + l * ldb;
          s += element(A, a_type, b * stride_a + ai) * element(B, b_type, b * stride_b + bi);
        }
        const int64_t ci = b * stride_c + i + j * ldc;
        set_element(C, c_type, ci, al * s + (be == 0.0f ? 0.0f : be * element(C, c_type, ci)));
      }
  return CUBLAS_STATUS_SUCCESS;
}

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
#include "core/cuda/attention.cu"
#include "core/cuda/embedding.cu"
// clang-format on
}  // namespace emulated
