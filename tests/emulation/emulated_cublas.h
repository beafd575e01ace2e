// Host stand-ins for the cuBLAS and cuBLASLt calls of the backend's kernel files (linear.cu,
// attention.cu), so that those files run on the emulation as they are: their descriptors,
// transposes, leading dimensions, bias epilogue and fallback path, on host memory. Column-major,
// float accumulation in k order, one rounding of the result to its type: what the library
// computes, not how fast or in which order it sums.
//
// The stand-ins keep the library's contracts where a caller could break them unseen: a matmul's
// layouts must agree with its transposes and types; a descriptor attribute the emulation does
// not know is refused; the matmul must be given the algorithm the heuristic returned. Like cuBLASLt
// on 16-bit operands, the heuristic finds no algorithm when a leading dimension is not a multiple
// of 8 elements or a pointer is aligned to less than 16 bytes, so the callers' fallback runs here
// too.
//
// Each stand-in is named after its call (lt_matmul for cublasLtMatmul); emulated_backend.h
// renames the calls of the files it includes to them (macros, because the real declarations
// have the same signatures and argument-dependent lookup would find both).
#pragma once

#include <cublasLt.h>
#include <cublas_v2.h>

#include <cstdint>
#include <cstring>

#include "tests/emulation/emulated_elements.h"

namespace emulated::blas {

// Calls that ran, for the tests that check which path a product took.
inline int lt_matmuls = 0, gemm_exs = 0;

// C(m, n) = alpha op(A) op(B) + beta C (+ bias(m) on every column), column-major; C is not read
// when beta is 0 (it may hold anything, as the library's may).
inline void gemm(cublasOperation_t transa, cublasOperation_t transb, int64_t m, int64_t n,
                 int64_t k, float alpha, const void* A, cudaDataType_t a_type, int64_t lda,
                 const void* B, cudaDataType_t b_type, int64_t ldb, float beta, void* C,
                 cudaDataType_t c_type, int64_t ldc, const void* bias = nullptr) {
  for (int64_t j = 0; j < n; ++j)
    for (int64_t i = 0; i < m; ++i) {
      float s = 0.0f;
      for (int64_t l = 0; l < k; ++l) {
        const int64_t ai = transa == CUBLAS_OP_N ? i + l * lda : l + i * lda;
        const int64_t bi = transb == CUBLAS_OP_N ? l + j * ldb : j + l * ldb;
        s += element(A, a_type, ai) * element(B, b_type, bi);
      }
      const int64_t ci = i + j * ldc;
      float v = alpha * s + (beta == 0.0f ? 0.0f : beta * element(C, c_type, ci));
      if (bias) v += element(bias, c_type, i);
      set_element(C, c_type, ci, v);
    }
}

// What CUBLAS_CHECK says of a failed call (cublasGetStatusString): the statuses the stand-ins
// return.
inline const char* status_string(cublasStatus_t s) {
  switch (s) {
    case CUBLAS_STATUS_SUCCESS:
      return "success";
    case CUBLAS_STATUS_INVALID_VALUE:
      return "an invalid value";
    case CUBLAS_STATUS_NOT_SUPPORTED:
      return "not supported";
    default:
      return "an unexpected status";
  }
}

inline cublasStatus_t create(cublasHandle_t* h) {
  static int handle;
  *h = reinterpret_cast<cublasHandle_t>(&handle);
  return CUBLAS_STATUS_SUCCESS;
}
inline cublasStatus_t set_stream(cublasHandle_t, cudaStream_t) { return CUBLAS_STATUS_SUCCESS; }
inline cublasStatus_t set_math_mode(cublasHandle_t, cublasMath_t mode) {
  // Anything but the default would let cuBLAS round fp32 operands to TF32.
  return mode == CUBLAS_DEFAULT_MATH ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_INVALID_VALUE;
}

inline cublasStatus_t gemm_ex(cublasHandle_t, cublasOperation_t transa, cublasOperation_t transb,
                              int m, int n, int k, const void* alpha, const void* A,
                              cudaDataType_t a_type, int lda, const void* B, cudaDataType_t b_type,
                              int ldb, const void* beta, void* C, cudaDataType_t c_type, int ldc,
                              cublasComputeType_t compute, cublasGemmAlgo_t) {
  if (compute != CUBLAS_COMPUTE_32F) return CUBLAS_STATUS_INVALID_VALUE;
  gemm(transa, transb, m, n, k, *static_cast<const float*>(alpha), A, a_type, lda, B, b_type, ldb,
       *static_cast<const float*>(beta), C, c_type, ldc);
  ++gemm_exs;
  return CUBLAS_STATUS_SUCCESS;
}

inline cublasStatus_t gemm_strided_batched_ex(
    cublasHandle_t, cublasOperation_t transa, cublasOperation_t transb, int m, int n, int k,
    const void* alpha, const void* A, cudaDataType_t a_type, int lda, long long stride_a,
    const void* B, cudaDataType_t b_type, int ldb, long long stride_b, const void* beta, void* C,
    cudaDataType_t c_type, int ldc, long long stride_c, int batch, cublasComputeType_t compute,
    cublasGemmAlgo_t) {
  if (compute != CUBLAS_COMPUTE_32F) return CUBLAS_STATUS_INVALID_VALUE;
  const auto* a = static_cast<const unsigned char*>(A);
  const auto* b = static_cast<const unsigned char*>(B);
  auto* c = static_cast<unsigned char*>(C);
  for (int64_t i = 0; i < batch; ++i)
    gemm(transa, transb, m, n, k, *static_cast<const float*>(alpha),
         a + i * stride_a * element_bytes(a_type), a_type, lda,
         b + i * stride_b * element_bytes(b_type), b_type, ldb, *static_cast<const float*>(beta),
         c + i * stride_c * element_bytes(c_type), c_type, ldc);
  return CUBLAS_STATUS_SUCCESS;
}

// cuBLASLt's opaque objects, as the stand-ins hold them.
struct MatmulDesc {
  cublasComputeType_t compute;
  cublasOperation_t transa = CUBLAS_OP_N, transb = CUBLAS_OP_N;
  cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_DEFAULT;
  const void* bias = nullptr;
};
struct Layout {
  cudaDataType_t type;
  uint64_t rows, cols;
  int64_t ld;
};
struct Preference {
  size_t workspace = 0;
  uint32_t alignment = 256;  // the least of A's, B's, C's and D's
};
constexpr uint32_t kAlgorithm = 0x5eed;  // what the heuristic hands out, and the matmul wants back

inline cublasStatus_t lt_create(cublasLtHandle_t* h) {
  static int handle;
  *h = reinterpret_cast<cublasLtHandle_t>(&handle);
  return CUBLAS_STATUS_SUCCESS;
}

inline cublasStatus_t lt_matmul_desc_create(cublasLtMatmulDesc_t* desc, cublasComputeType_t compute,
                                            cudaDataType_t scale) {
  if (scale != CUDA_R_32F) return CUBLAS_STATUS_INVALID_VALUE;
  *desc = reinterpret_cast<cublasLtMatmulDesc_t>(new MatmulDesc{compute});
  return CUBLAS_STATUS_SUCCESS;
}

// Copies `size` bytes of buf into `field`, which must be that size.
template <class T>
cublasStatus_t set(T& field, const void* buf, size_t size) {
  if (size != sizeof(T)) return CUBLAS_STATUS_INVALID_VALUE;
  std::memcpy(&field, buf, size);
  return CUBLAS_STATUS_SUCCESS;
}

inline cublasStatus_t lt_matmul_desc_set_attribute(cublasLtMatmulDesc_t desc,
                                                   cublasLtMatmulDescAttributes_t attr,
                                                   const void* buf, size_t size) {
  auto* d = reinterpret_cast<MatmulDesc*>(desc);
  switch (attr) {
    case CUBLASLT_MATMUL_DESC_TRANSA:
      return set(d->transa, buf, size);
    case CUBLASLT_MATMUL_DESC_TRANSB:
      return set(d->transb, buf, size);
    case CUBLASLT_MATMUL_DESC_EPILOGUE:
      return set(d->epilogue, buf, size);
    case CUBLASLT_MATMUL_DESC_BIAS_POINTER:
      return set(d->bias, buf, size);
    default:
      return CUBLAS_STATUS_INVALID_VALUE;  // one the emulation does not carry out
  }
}

inline cublasStatus_t lt_matrix_layout_create(cublasLtMatrixLayout_t* layout, cudaDataType_t type,
                                              uint64_t rows, uint64_t cols, int64_t ld) {
  if (ld < static_cast<int64_t>(rows)) return CUBLAS_STATUS_INVALID_VALUE;
  *layout = reinterpret_cast<cublasLtMatrixLayout_t>(new Layout{type, rows, cols, ld});
  return CUBLAS_STATUS_SUCCESS;
}

inline cublasStatus_t lt_matmul_preference_create(cublasLtMatmulPreference_t* pref) {
  *pref = reinterpret_cast<cublasLtMatmulPreference_t>(new Preference);
  return CUBLAS_STATUS_SUCCESS;
}

inline cublasStatus_t lt_matmul_preference_set_attribute(cublasLtMatmulPreference_t pref,
                                                         cublasLtMatmulPreferenceAttributes_t attr,
                                                         const void* buf, size_t size) {
  auto* p = reinterpret_cast<Preference*>(pref);
  uint32_t align = 0;
  switch (attr) {
    case CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES:
      return set(p->workspace, buf, size);
    case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES:
    case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES:
    case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES:
    case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES:
      if (set(align, buf, size) != CUBLAS_STATUS_SUCCESS) return CUBLAS_STATUS_INVALID_VALUE;
      if (align < p->alignment) p->alignment = align;
      return CUBLAS_STATUS_SUCCESS;
    default:
      return CUBLAS_STATUS_INVALID_VALUE;
  }
}

inline cublasStatus_t lt_matmul_preference_destroy(cublasLtMatmulPreference_t pref) {
  delete reinterpret_cast<Preference*>(pref);
  return CUBLAS_STATUS_SUCCESS;
}

// op(A) (m x k) op(B) (k x n) into C and D (m x n), of one type, or INVALID_VALUE.
inline cublasStatus_t matmul_shape(const MatmulDesc& d, const Layout& a, const Layout& b,
                                   const Layout& c, const Layout& dl, uint64_t* m, uint64_t* n,
                                   uint64_t* k) {
  *m = d.transa == CUBLAS_OP_N ? a.rows : a.cols;
  *k = d.transa == CUBLAS_OP_N ? a.cols : a.rows;
  *n = d.transb == CUBLAS_OP_N ? b.cols : b.rows;
  const uint64_t kb = d.transb == CUBLAS_OP_N ? b.rows : b.cols;
  const bool agree = kb == *k && c.rows == *m && c.cols == *n && dl.rows == *m && dl.cols == *n &&
                     a.type == b.type && c.type == dl.type;
  return agree ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_INVALID_VALUE;
}

inline cublasStatus_t lt_matmul_algo_get_heuristic(
    cublasLtHandle_t, cublasLtMatmulDesc_t desc, cublasLtMatrixLayout_t a, cublasLtMatrixLayout_t b,
    cublasLtMatrixLayout_t c, cublasLtMatrixLayout_t d, cublasLtMatmulPreference_t pref,
    int requested, cublasLtMatmulHeuristicResult_t* results, int* found) {
  const auto& A = *reinterpret_cast<const Layout*>(a);
  uint64_t m = 0, n = 0, k = 0;
  const cublasStatus_t shape =
      matmul_shape(*reinterpret_cast<const MatmulDesc*>(desc), A, *reinterpret_cast<Layout*>(b),
                   *reinterpret_cast<Layout*>(c), *reinterpret_cast<Layout*>(d), &m, &n, &k);
  if (shape != CUBLAS_STATUS_SUCCESS) return shape;
  *found = 0;
  if (requested < 1) return CUBLAS_STATUS_INVALID_VALUE;
  const auto* p = reinterpret_cast<const Preference*>(pref);
  const bool narrow = A.type != CUDA_R_32F;
  for (const cublasLtMatrixLayout_t l : {a, b, c, d})
    if (narrow && reinterpret_cast<const Layout*>(l)->ld % 8 != 0)
      return CUBLAS_STATUS_NOT_SUPPORTED;
  if (narrow && p->alignment < 16) return CUBLAS_STATUS_NOT_SUPPORTED;
  results[0] = cublasLtMatmulHeuristicResult_t{};
  results[0].algo.data[0] = kAlgorithm;
  results[0].workspaceSize = p->workspace;
  results[0].state = CUBLAS_STATUS_SUCCESS;
  *found = 1;
  return CUBLAS_STATUS_SUCCESS;
}

inline cublasStatus_t lt_matmul(cublasLtHandle_t, cublasLtMatmulDesc_t desc, const void* alpha,
                                const void* A, cublasLtMatrixLayout_t a, const void* B,
                                cublasLtMatrixLayout_t b, const void* beta, const void* C,
                                cublasLtMatrixLayout_t c, void* D, cublasLtMatrixLayout_t d,
                                const cublasLtMatmulAlgo_t* algo, void*, size_t, cudaStream_t) {
  const auto& dd = *reinterpret_cast<const MatmulDesc*>(desc);
  const auto &la = *reinterpret_cast<const Layout*>(a), &lb = *reinterpret_cast<const Layout*>(b),
             &lc = *reinterpret_cast<const Layout*>(c), &ld = *reinterpret_cast<const Layout*>(d);
  uint64_t m = 0, n = 0, k = 0;
  const cublasStatus_t shape = matmul_shape(dd, la, lb, lc, ld, &m, &n, &k);
  if (shape != CUBLAS_STATUS_SUCCESS) return shape;
  if (!algo || algo->data[0] != kAlgorithm || dd.compute != CUBLAS_COMPUTE_32F)
    return CUBLAS_STATUS_INVALID_VALUE;
  const bool bias = dd.epilogue == CUBLASLT_EPILOGUE_BIAS;
  if ((bias && !dd.bias) || (!bias && dd.epilogue != CUBLASLT_EPILOGUE_DEFAULT))
    return CUBLAS_STATUS_INVALID_VALUE;
  const float be = *static_cast<const float*>(beta);
  // In place (C = D) as the callers use it; a separate C would be copied into D first.
  if (C != D || lc.ld != ld.ld) return CUBLAS_STATUS_NOT_SUPPORTED;
  gemm(dd.transa, dd.transb, static_cast<int64_t>(m), static_cast<int64_t>(n),
       static_cast<int64_t>(k), *static_cast<const float*>(alpha), A, la.type, la.ld, B, lb.type,
       lb.ld, be, D, ld.type, ld.ld, bias ? dd.bias : nullptr);
  ++lt_matmuls;
  return CUBLAS_STATUS_SUCCESS;
}

}  // namespace emulated::blas
