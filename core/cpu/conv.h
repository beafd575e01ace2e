// im2col / col2im for NCHW convolution, batched so one large GEMM covers many samples.
//
// Column layout: col(C*KH*KW, NB*OH*OW); row (c, kh, kw), column (n, oh, ow).
#pragma once

#include <cstdint>

namespace trainer::cpu {

struct ConvGeometry {
  int64_t C, H, W;        // input channels and size
  int64_t KH, KW;         // kernel
  int64_t stride, pad;
  int64_t OH, OW;         // output size
  int64_t col_rows() const { return C * KH * KW; }
  int64_t out_plane() const { return OH * OW; }
};

// x(NB, C, H, W) -> col(C*KH*KW, NB*OH*OW)
void im2col(const ConvGeometry& g, int64_t NB, const float* x, float* col);
// col(C*KH*KW, NB*OH*OW) -> dx(NB, C, H, W), accumulated (dx must be zeroed by the caller)
void col2im(const ConvGeometry& g, int64_t NB, const float* col, float* dx);

// The GEMM's (OC, NB, P) to the tensor's (NB, OC, P), adding bias(OC) when non-null.
void gemm_to_nchw(int64_t OC, int64_t NB, int64_t P, const float* src, const float* bias, float* dst);
// The tensor's (NB, OC, P) to the GEMM's (OC, NB, P), adding each channel's sum to
// channel_sums(OC) when non-null (the bias gradient, in the same pass).
void nchw_to_gemm(int64_t NB, int64_t OC, int64_t P, const float* src, float* dst, float* channel_sums);

}  // namespace trainer::cpu

namespace trainer::cpu {

// y(N, OC, OH, OW) = conv(x(N, C, H, W), w(OC, C, KH, KW)) + b(OC)
void conv2d_forward(const ConvGeometry& g, int64_t N, int64_t OC, const float* x, const float* w,
                    const float* b, float* y);
// dw += , db += (accumulating, for gradient accumulation); dx overwritten when non-null.
void conv2d_backward(const ConvGeometry& g, int64_t N, int64_t OC, const float* x, const float* w,
                     const float* dy, float* dx, float* dw, float* db);

}  // namespace trainer::cpu
