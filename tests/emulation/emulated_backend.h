// The CUDA backend's kernel files compiled as host code on the emulation (cuda_emulation.h), in
// namespace `emulated`: emulated::trainer::cuda::layer_norm_forward(...) runs norm.cu as it is,
// its launches and its kernels, on host memory. The library calls go to host stand-ins: cuBLAS
// and cuBLASLt's of linear.cu and attention.cu to emulated_cublas.h's, cuDNN's of conv.cu to
// emulated_cudnn.h's, and the embedding's three CUB calls to those in tests/emulation/include
// (first on this test's include path), so every kernel file runs here.
//
// How: every header those files include comes first, here, at global scope, so that inside
// namespace `emulated` below their include guards make the files' own #includes no-ops; the
// files' names then resolve to what `emulated::trainer::cuda` declares before them (host memory
// for device allocations and copies, the emulation's launch, no stream) and otherwise, through the
// using-directives, to the real ::trainer::cuda and ::trainer (element types, reductions, the CPU
// twins' row functions). A file that calls into another (the loss into the casts) comes after it.
// The files share one translation unit here, so even their file-local names must differ (conv.cu's
// ConvPlanKey beside linear.cu's PlanKey).
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

#include "core/cpu/conv.h"
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
#include "tests/emulation/emulated_cudnn.h"

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

// Every library call of the files goes to its host stand-in (cuBLAS's and cuBLASLt's in
// emulated_cublas.h, cuDNN's in emulated_cudnn.h, the runtime's error text in cuda_emulation.h);
// two of the names are cublas_v2.h's aliases of the _v2 functions, given back after the files.
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
#define cublasGetStatusString ::emulated::blas::status_string
#define cudaGetErrorString ::emu::error_string
#define cudnnCreate ::emulated::dnn::create
#define cudnnGetErrorString ::emulated::dnn::status_string
#define cudnnSetStream ::emulated::dnn::set_stream
#define cudnnCreateTensorDescriptor ::emulated::dnn::create_tensor
#define cudnnSetTensor4dDescriptor ::emulated::dnn::set_tensor_4d
#define cudnnCreateFilterDescriptor ::emulated::dnn::create_filter
#define cudnnSetFilter4dDescriptor ::emulated::dnn::set_filter_4d
#define cudnnCreateConvolutionDescriptor ::emulated::dnn::create_convolution
#define cudnnSetConvolution2dDescriptor ::emulated::dnn::set_convolution_2d
#define cudnnSetConvolutionMathType ::emulated::dnn::set_math
#define cudnnFindConvolutionForwardAlgorithm ::emulated::dnn::find_forward
#define cudnnFindConvolutionBackwardDataAlgorithm ::emulated::dnn::find_backward_data
#define cudnnFindConvolutionBackwardFilterAlgorithm ::emulated::dnn::find_backward_filter
#define cudnnConvolutionForward ::emulated::dnn::convolution_forward
#define cudnnAddTensor ::emulated::dnn::add_tensor
#define cudnnConvolutionBackwardData ::emulated::dnn::convolution_backward_data
#define cudnnConvolutionBackwardFilter ::emulated::dnn::convolution_backward_filter
#define cudnnConvolutionBackwardBias ::emulated::dnn::convolution_backward_bias

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
#include "core/cuda/conv.cu"
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
#undef cublasGetStatusString
#undef cudaGetErrorString
#undef cudnnCreate
#undef cudnnGetErrorString
#undef cudnnSetStream
#undef cudnnCreateTensorDescriptor
#undef cudnnSetTensor4dDescriptor
#undef cudnnCreateFilterDescriptor
#undef cudnnSetFilter4dDescriptor
#undef cudnnCreateConvolutionDescriptor
#undef cudnnSetConvolution2dDescriptor
#undef cudnnSetConvolutionMathType
#undef cudnnFindConvolutionForwardAlgorithm
#undef cudnnFindConvolutionBackwardDataAlgorithm
#undef cudnnFindConvolutionBackwardFilterAlgorithm
#undef cudnnConvolutionForward
#undef cudnnAddTensor
#undef cudnnConvolutionBackwardData
#undef cudnnConvolutionBackwardFilter
#undef cudnnConvolutionBackwardBias
#define cublasCreate cublasCreate_v2
#define cublasSetStream cublasSetStream_v2
