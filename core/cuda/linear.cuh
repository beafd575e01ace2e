// Fully connected layer on the GPU: the twin of core/cpu/linear.h.
//
// Forward is one cuBLASLt matmul with the bias added in its epilogue (or, where cuBLASLt has no
// algorithm for the shape and alignment, cublasGemmEx and a bias kernel); backward is two cuBLAS
// GEMMs (dx, and dw accumulated with beta = 1) and a column sum for db. FP32 throughout: TF32
// is off, as on the CPU, so the two agree to rounding.
#pragma once

#include <cstdint>

namespace trainer::cuda {

// y(N, out) = x(N, in) w(out, in)ᵀ + b(out); b may be null
void linear_forward(int64_t N, int64_t in, int64_t out, const float* x, const float* w,
                    const float* b, float* y);
// dw(out, in) += dyᵀ x; db(out) += Σ dy (when non-null); dx(N, in) = dy w (when non-null)
void linear_backward(int64_t N, int64_t in, int64_t out, const float* x, const float* w,
                     const float* dy, float* dx, float* dw, float* db);

// Tests: the forward takes the path it takes when cuBLASLt has no algorithm for a shape
// (cublasGemmEx, then a bias kernel) for every shape, while `on`.
void force_gemm_fallback(bool on);

// The same products on 16-bit operands, on the tensor cores: x, w, b, y, dy, dx in fp16 or bf16
// (`bf16` chooses), float accumulation, one rounding of y and dx; dw and db are the float master
// gradients. What the CPU computes through float copies (core/ops.cpp), to rounding.
void linear_forward_16(bool bf16, int64_t N, int64_t in, int64_t out, const void* x, const void* w,
                       const void* b, void* y);
void linear_backward_16(bool bf16, int64_t N, int64_t in, int64_t out, const void* x, const void* w,
                        const void* dy, void* dx, float* dw, float* db);

}  // namespace trainer::cuda
