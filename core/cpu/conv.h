// NCHW convolution on the CPU: im2col + one GEMM per sample.
//
// Column layout of one sample: col(C*KH*KW, OH*OW); row (c, kh, kw), column (oh, ow).
#pragma once

#include <cstdint>

namespace trainer::cpu {

struct ConvGeometry {
  int64_t C, H, W;  // input channels and size
  int64_t KH, KW;   // kernel
  int64_t stride, pad;
  int64_t OH, OW;  // output size
  int64_t col_rows() const { return C * KH * KW; }
  int64_t out_plane() const { return OH * OW; }
};

// x(C, H, W) -> col(C*KH*KW, OH*OW), zeros where the window reaches into the padding
void im2col(const ConvGeometry& g, const float* x, float* col);
// col(C*KH*KW, OH*OW) -> dx(C, H, W), accumulated (dx must be zeroed by the caller)
void col2im(const ConvGeometry& g, const float* col, float* dx);

// y(N, OC, OH, OW) = conv(x(N, C, H, W), w(OC, C, KH, KW)) + b(OC); b may be null
void conv2d_forward(const ConvGeometry& g, int64_t N, int64_t OC, const float* x, const float* w,
                    const float* b, float* y);
// dw += and db += (accumulating, for gradient accumulation); dx overwritten when non-null.
void conv2d_backward(const ConvGeometry& g, int64_t N, int64_t OC, const float* x, const float* w,
                     const float* dy, float* dx, float* dw, float* db);

}  // namespace trainer::cpu
