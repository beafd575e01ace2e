#include "core/cpu/conv.h"

#include <cstring>

namespace trainer::cpu {

void im2col(const ConvGeometry& g, int64_t NB, const float* x, float* col) {
  const int64_t P = g.out_plane();
  const int64_t cols = NB * P;
  for (int64_t c = 0; c < g.C; ++c)
    for (int64_t kh = 0; kh < g.KH; ++kh)
      for (int64_t kw = 0; kw < g.KW; ++kw) {
        float* row = col + ((c * g.KH + kh) * g.KW + kw) * cols;
        for (int64_t n = 0; n < NB; ++n) {
          const float* plane = x + (n * g.C + c) * g.H * g.W;
          float* out = row + n * P;
          for (int64_t oh = 0; oh < g.OH; ++oh) {
            const int64_t ih = oh * g.stride - g.pad + kh;
            float* o = out + oh * g.OW;
            if (ih < 0 || ih >= g.H) {
              std::memset(o, 0, sizeof(float) * static_cast<size_t>(g.OW));
              continue;
            }
            const float* in = plane + ih * g.W;
            if (g.stride == 1 && g.pad == 0) {  // the common case: a contiguous run
              // A plain loop, not memcpy: rows are 3 to 30 floats, too short for a call.
              const float* src = in + kw;
              for (int64_t ow = 0; ow < g.OW; ++ow) o[ow] = src[ow];
              continue;
            }
            for (int64_t ow = 0; ow < g.OW; ++ow) {
              const int64_t iw = ow * g.stride - g.pad + kw;
              o[ow] = (iw >= 0 && iw < g.W) ? in[iw] : 0.0f;
            }
          }
        }
      }
}

void col2im(const ConvGeometry& g, int64_t NB, const float* col, float* dx) {
  const int64_t P = g.out_plane();
  const int64_t cols = NB * P;
  for (int64_t c = 0; c < g.C; ++c)
    for (int64_t kh = 0; kh < g.KH; ++kh)
      for (int64_t kw = 0; kw < g.KW; ++kw) {
        const float* row = col + ((c * g.KH + kh) * g.KW + kw) * cols;
        for (int64_t n = 0; n < NB; ++n) {
          float* plane = dx + (n * g.C + c) * g.H * g.W;
          const float* in = row + n * P;
          for (int64_t oh = 0; oh < g.OH; ++oh) {
            const int64_t ih = oh * g.stride - g.pad + kh;
            if (ih < 0 || ih >= g.H) continue;
            float* out = plane + ih * g.W;
            const float* i = in + oh * g.OW;
            if (g.stride == 1 && g.pad == 0) {
              float* dst = out + kw;
              for (int64_t ow = 0; ow < g.OW; ++ow) dst[ow] += i[ow];
              continue;
            }
            for (int64_t ow = 0; ow < g.OW; ++ow) {
              const int64_t iw = ow * g.stride - g.pad + kw;
              if (iw >= 0 && iw < g.W) out[iw] += i[ow];
            }
          }
        }
      }
}

void gemm_to_nchw(int64_t OC, int64_t NB, int64_t P, const float* src, const float* bias, float* dst) {
  for (int64_t c = 0; c < OC; ++c) {
    const float b = bias ? bias[c] : 0.0f;
    for (int64_t n = 0; n < NB; ++n) {
      const float* s = src + (c * NB + n) * P;
      float* d = dst + (n * OC + c) * P;
      for (int64_t p = 0; p < P; ++p) d[p] = s[p] + b;
    }
  }
}

void nchw_to_gemm(int64_t NB, int64_t OC, int64_t P, const float* src, float* dst, float* channel_sums) {
  for (int64_t c = 0; c < OC; ++c) {
    double sum = 0.0;  // over NB planes: float per plane, double across them
    for (int64_t n = 0; n < NB; ++n) {
      const float* s = src + (n * OC + c) * P;
      float* d = dst + (c * NB + n) * P;
      float plane = 0.0f;
      for (int64_t p = 0; p < P; ++p) {
        d[p] = s[p];
        plane += s[p];
      }
      sum += plane;
    }
    if (channel_sums) channel_sums[c] += static_cast<float>(sum);
  }
}

}  // namespace trainer::cpu

#include <algorithm>
#include <vector>

#include "core/cpu/blas.h"

namespace trainer::cpu {

// Samples per im2col chunk: as many as keep the column buffer near 16 MiB, so one large GEMM
// runs per chunk without the buffer growing with the batch.
static int64_t chunk_samples(const ConvGeometry& g, int64_t N) {
  const int64_t per_sample = g.col_rows() * g.out_plane();
  return std::clamp<int64_t>((int64_t{4} << 20) / std::max<int64_t>(per_sample, 1), 1, N);
}

// One scratch buffer per thread, grown on demand and reused across steps.
static float* scratch(std::vector<float>& buf, int64_t n) {
  if (static_cast<int64_t>(buf.size()) < n) buf.resize(static_cast<size_t>(n));
  return buf.data();
}

void conv2d_forward(const ConvGeometry& g, int64_t N, int64_t OC, const float* x, const float* w,
                    const float* b, float* y) {
  thread_local std::vector<float> col_buf, out_buf;
  const int64_t P = g.out_plane(), R = g.col_rows(), step = chunk_samples(g, N);
  for (int64_t n0 = 0; n0 < N; n0 += step) {
    const int64_t nb = std::min(step, N - n0);
    float* col = scratch(col_buf, R * nb * P);
    float* out = scratch(out_buf, OC * nb * P);
    im2col(g, nb, x + n0 * g.C * g.H * g.W, col);
    gemm(false, false, OC, nb * P, R, 1.0f, w, col, 0.0f, out);  // (OC, nb*P)
    gemm_to_nchw(OC, nb, P, out, b, y + n0 * OC * P);               // (nb, OC, P) + b
  }
}

void conv2d_backward(const ConvGeometry& g, int64_t N, int64_t OC, const float* x, const float* w,
                     const float* dy, float* dx, float* dw, float* db) {
  thread_local std::vector<float> col_buf, dyt_buf;
  const int64_t P = g.out_plane(), R = g.col_rows(), step = chunk_samples(g, N);
  for (int64_t n0 = 0; n0 < N; n0 += step) {
    const int64_t nb = std::min(step, N - n0);
    const float* dyc = dy + n0 * OC * P;
    float* col = scratch(col_buf, R * nb * P);
    float* dyt = scratch(dyt_buf, OC * nb * P);
    nchw_to_gemm(nb, OC, P, dyc, dyt, db);  // (OC, nb*P), and db += Σ dy
    im2col(g, nb, x + n0 * g.C * g.H * g.W, col);
    gemm(false, true, OC, R, nb * P, 1.0f, dyt, col, 1.0f, dw);  // dw(OC, R) += dyt colᵀ
    if (dx) {
      gemm(true, false, R, nb * P, OC, 1.0f, w, dyt, 0.0f, col);  // dcol(R, nb*P) = wᵀ dyt
      float* dxc = dx + n0 * g.C * g.H * g.W;
      std::fill(dxc, dxc + nb * g.C * g.H * g.W, 0.0f);
      col2im(g, nb, col, dxc);
    }
  }
}

}  // namespace trainer::cpu
