#include <cublasLt.h>
#include <cublas_v2.h>

#include <atomic>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <mutex>
#include <tuple>

#include "core/cuda/blas_handle.cuh"
#include "core/cuda/column_sums.cuh"
#include "core/cuda/elementwise.cuh"
#include "core/cuda/launch.cuh"
#include "core/cuda/linear.cuh"
#include "core/half.h"

namespace trainer::cuda {

// Row-major (N, k) data is column-major (k, N): every product below is written for cuBLAS's
// column-major view, y(N, out) being Y(out, N) = Wᵀ X with W the (in, out) view of w.

namespace {

constexpr size_t kLtWorkspace = size_t{32} << 20;  // cuBLAS's recommendation for Hopper

struct Handles {
  cublasHandle_t blas = nullptr;
  cublasLtHandle_t lt = nullptr;
  void* workspace = nullptr;
  Handles() {
    CUBLAS_CHECK(cublasCreate(&blas));
    CUBLAS_CHECK(cublasSetStream(blas, stream()));
    // CUBLAS_DEFAULT_MATH: FP32 data is never rounded to TF32 unless asked for.
    CUBLAS_CHECK(cublasSetMathMode(blas, CUBLAS_DEFAULT_MATH));
    CUBLAS_CHECK(cublasLtCreate(&lt));
    workspace = device_allocate(kLtWorkspace);
  }
};

Handles& handles() {
  static Handles* h = new Handles;  // kept to process exit, as tensors are
  return *h;
}

// One forward matmul plan per shape and pointer alignment: descriptors and the algorithm the
// heuristic picked, found once (the first step) and reused. cuBLASLt may have none (16-bit
// operands with a leading dimension that is not a multiple of 8, a dimension of 1): then the plan
// says so and the forward takes cublasGemmEx and a bias kernel instead.
struct ForwardPlan {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
  cublasLtMatmulAlgo_t algo{};
  bool fallback = false;
};

// N, in, out, has bias, operand type, the alignment every pointer has
using PlanKey = std::tuple<int64_t, int64_t, int64_t, bool, cudaDataType_t, uint32_t>;

std::atomic<bool> lt_forced_off{false};

// The largest power of two up to 256 that divides every address.
uint32_t common_alignment(std::initializer_list<const void*> pointers) {
  uint32_t align = 256;
  for (const void* p : pointers)
    while (p && reinterpret_cast<uintptr_t>(p) % align != 0) align /= 2;
  return align;
}

ForwardPlan make_plan(int64_t N, int64_t in, int64_t out, bool bias, cudaDataType_t type,
                      uint32_t align) {
  ForwardPlan p;
  // CUBLAS_COMPUTE_32F, not _FAST_TF32: full FP32 products, as on the CPU.
  CUBLAS_CHECK(cublasLtMatmulDescCreate(&p.desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  const cublasOperation_t transa = CUBLAS_OP_T;
  CUBLAS_CHECK(
      cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSA, &transa, sizeof transa));
  const cublasLtEpilogue_t epilogue = bias ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT;
  CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue,
                                              sizeof epilogue));
  // The bias has Y's type (cuBLASLt's default).
  CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p.a, type, in, out, in));  // W (in, out)
  CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p.b, type, in, N, in));    // X (in, N)
  CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p.c, type, out, N, out));  // Y (out, N)

  cublasLtMatmulPreference_t pref = nullptr;
  CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
  const size_t ws = kLtWorkspace;
  CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                    &ws, sizeof ws));
  // The alignment the real pointers have: an algorithm that assumes more would fault.
  for (auto attr :
       {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
        CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES})
    CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, attr, &align, sizeof align));
  cublasLtMatmulHeuristicResult_t result{};
  int found = 0;
  const cublasStatus_t status = cublasLtMatmulAlgoGetHeuristic(handles().lt, p.desc, p.a, p.b, p.c,
                                                               p.c, pref, 1, &result, &found);
  cublasLtMatmulPreferenceDestroy(pref);
  if (status == CUBLAS_STATUS_NOT_SUPPORTED || (status == CUBLAS_STATUS_SUCCESS && found == 0))
    p.fallback = true;
  else
    CUBLAS_CHECK(status);
  p.algo = result.algo;
  return p;
}

const ForwardPlan& forward_plan(int64_t N, int64_t in, int64_t out, bool bias, cudaDataType_t type,
                                uint32_t align) {
  static std::mutex mu;
  static std::map<PlanKey, ForwardPlan>* plans = new std::map<PlanKey, ForwardPlan>;
  std::lock_guard<std::mutex> lock(mu);
  const PlanKey key{N, in, out, bias, type, align};
  auto it = plans->find(key);
  if (it == plans->end()) it = plans->emplace(key, make_plan(N, in, out, bias, type, align)).first;
  return it->second;
}

// y(rows, cols) = b(cols) on every row: the GEMM then adds into it (beta = 1), so a 16-bit Y
// is rounded once, as cuBLASLt's bias epilogue and the CPU round it.
template <class T>
__global__ void broadcast_bias_kernel(int64_t rows, int64_t cols, const T* b, T* y) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < rows * cols;
       i += int64_t{gridDim.x} * blockDim.x)
    y[i] = b[i % cols];
}

void broadcast_bias(cudaDataType_t type, int64_t rows, int64_t cols, const void* b, void* y) {
  const int64_t n = rows * cols;
  if (type == CUDA_R_32F)
    launch(broadcast_bias_kernel<float>, blocks_for(n), kThreads, 0, rows, cols,
           static_cast<const float*>(b), static_cast<float*>(y));
  else
    launch(broadcast_bias_kernel<uint16_t>, blocks_for(n), kThreads, 0, rows, cols,
           static_cast<const uint16_t*>(b), static_cast<uint16_t*>(y));
}

// Y = Wᵀ X (+ b) with operands of `type`, float accumulation.
void matmul_forward(cudaDataType_t type, int64_t N, int64_t in, int64_t out, const void* x,
                    const void* w, const void* b, void* y) {
  if (N == 0) return;
  const ForwardPlan& p =
      forward_plan(N, in, out, b != nullptr, type, common_alignment({x, w, b, y}));
  if (p.fallback || lt_forced_off.load()) {
    if (b) broadcast_bias(type, N, out, b, y);
    const float one = 1.0f, beta = b ? 1.0f : 0.0f;
    CUBLAS_CHECK(cublasGemmEx(handles().blas, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(out),
                              static_cast<int>(N), static_cast<int>(in), &one, w, type,
                              static_cast<int>(in), x, type, static_cast<int>(in), &beta, y, type,
                              static_cast<int>(out), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    return;
  }
  if (b)
    CUBLAS_CHECK(
        cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &b, sizeof b));
  const float one = 1.0f, zero = 0.0f;
  CUBLAS_CHECK(cublasLtMatmul(handles().lt, p.desc, &one, w, p.a, x, p.b, &zero, y, p.c, y, p.c,
                              &p.algo, handles().workspace, kLtWorkspace, stream()));
}

// dW(in, out) += X(in, N) dYᵀ(N, out) into float; dX(in, N) = W(in, out) dY(out, N) in `type`.
void matmul_backward(cudaDataType_t type, int64_t N, int64_t in, int64_t out, const void* x,
                     const void* w, const void* dy, void* dx, float* dw) {
  cublasHandle_t h = handles().blas;
  const float one = 1.0f, zero = 0.0f;
  const int n = static_cast<int>(N), k_in = static_cast<int>(in), k_out = static_cast<int>(out);
  if (dw)
    CUBLAS_CHECK(cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_T, k_in, k_out, n, &one, x, type, k_in, dy,
                              type, k_out, &one, dw, CUDA_R_32F, k_in, CUBLAS_COMPUTE_32F,
                              CUBLAS_GEMM_DEFAULT));
  if (dx)
    CUBLAS_CHECK(cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, k_in, n, k_out, &one, w, type, k_in, dy,
                              type, k_out, &zero, dx, type, k_in, CUBLAS_COMPUTE_32F,
                              CUBLAS_GEMM_DEFAULT));
}

cudaDataType_t type_16(bool bf16) { return bf16 ? CUDA_R_16BF : CUDA_R_16F; }

}  // namespace

cublasHandle_t blas_handle() { return handles().blas; }

void force_gemm_fallback(bool on) { lt_forced_off.store(on); }

void linear_forward(int64_t N, int64_t in, int64_t out, const float* x, const float* w,
                    const float* b, float* y) {
  matmul_forward(CUDA_R_32F, N, in, out, x, w, b, y);
}

void linear_forward_16(bool bf16, int64_t N, int64_t in, int64_t out, const void* x, const void* w,
                       const void* b, void* y) {
  matmul_forward(type_16(bf16), N, in, out, x, w, b, y);
}

void linear_backward_16(bool bf16, int64_t N, int64_t in, int64_t out, const void* x, const void* w,
                        const void* dy, void* dx, float* dw, float* db) {
  if (N == 0) return;
  matmul_backward(type_16(bf16), N, in, out, x, w, dy, dx, dw);
  if (!db) return;
  with_16(bf16, [&](auto e) {
    using E = decltype(e);
    column_sums<E>(N, out, as<E>(dy), db);
  });
}

void linear_backward(int64_t N, int64_t in, int64_t out, const float* x, const float* w,
                     const float* dy, float* dx, float* dw, float* db) {
  if (N == 0) return;
  matmul_backward(CUDA_R_32F, N, in, out, x, w, dy, dx, dw);
  if (db) sum_rows(N, out, dy, db);
}

}  // namespace trainer::cuda
