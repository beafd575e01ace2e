// Host stand-ins for the cuDNN calls of conv.cu, so that it runs on the emulation as it is: its
// descriptors, its choice among the algorithms cuDNN's search offers, the convolutions and the
// bias passes, on host memory. Direct sums in float, one rounding of each result to its type.
//
// The search's offers are the tests' to set (`offers`): each an algorithm, its time, whether it
// is deterministic and the workspace it needs, returned fastest first as cuDNN returns them. A
// convolution must then be run with an algorithm that was offered for its kind and at least the
// workspace that algorithm asked for; descriptors must agree with each other (types, the output
// size the geometry gives). What the stand-ins do not carry out (other layouts, dilation,
// convolution rather than cross-correlation, a compute type other than float) they refuse.
//
// Each stand-in is named after its call (find_forward for cudnnFindConvolutionForwardAlgorithm);
// emulated_backend.h renames conv.cu's calls to them.
#pragma once

#include <cudnn.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "tests/emulation/emulated_elements.h"

namespace emulated::dnn {

struct Tensor4d {
  cudaDataType_t type = CUDA_R_32F;
  int n = 0, c = 0, h = 0, w = 0;
};
struct Conv2d {
  int pad_h = 0, pad_w = 0, stride_h = 1, stride_w = 1;
  cudnnMathType_t math = CUDNN_DEFAULT_MATH;
};

// One candidate of a search.
template <class Algo>
struct Offer {
  Algo algo;
  float time;  // ms
  bool deterministic;
  size_t memory;
};

// What the next searches offer; by default a direct algorithm and, close behind or ahead, the
// kinds conv.cu must pass over: a Winograd or FFT one (taken only when clearly faster) and
// non-deterministic ones.
struct Offers {
  std::vector<Offer<cudnnConvolutionFwdAlgo_t>> forward{
      {CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM, 1.0f, true, 256},
      {CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED, 0.9f, true, 4096},
      {CUDNN_CONVOLUTION_FWD_ALGO_FFT, 1.5f, true, 8192}};
  std::vector<Offer<cudnnConvolutionBwdDataAlgo_t>> backward_data{
      {CUDNN_CONVOLUTION_BWD_DATA_ALGO_1, 1.0f, true, 512},
      {CUDNN_CONVOLUTION_BWD_DATA_ALGO_0, 0.7f, false, 0},
      {CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT_TILING, 0.95f, true, 4096}};
  std::vector<Offer<cudnnConvolutionBwdFilterAlgo_t>> backward_filter{
      {CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1, 1.0f, true, 1024},
      {CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0, 0.6f, false, 0},
      {CUDNN_CONVOLUTION_BWD_FILTER_ALGO_3, 0.8f, false, 0},
      {CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT, 0.9f, true, 4096}};
};
inline Offers offers;

// What the last convolutions ran with, for the tests.
inline cudnnConvolutionFwdAlgo_t last_forward{};
inline cudnnConvolutionBwdDataAlgo_t last_backward_data{};
inline cudnnConvolutionBwdFilterAlgo_t last_backward_filter{};

// What CUDNN_CHECK says of a failed call (cudnnGetErrorString): the statuses the stand-ins
// return.
inline const char* status_string(cudnnStatus_t s) {
  switch (s) {
    case CUDNN_STATUS_SUCCESS:
      return "success";
    case CUDNN_STATUS_BAD_PARAM:
      return "a bad parameter";
    case CUDNN_STATUS_NOT_SUPPORTED:
      return "not supported";
    default:
      return "an unexpected status";
  }
}

inline cudnnStatus_t create(cudnnHandle_t* h) {
  static int handle;
  *h = reinterpret_cast<cudnnHandle_t>(&handle);
  return CUDNN_STATUS_SUCCESS;
}
inline cudnnStatus_t set_stream(cudnnHandle_t, cudaStream_t) { return CUDNN_STATUS_SUCCESS; }

inline cudnnStatus_t create_tensor(cudnnTensorDescriptor_t* d) {
  *d = reinterpret_cast<cudnnTensorDescriptor_t>(new Tensor4d);
  return CUDNN_STATUS_SUCCESS;
}
inline cudnnStatus_t create_filter(cudnnFilterDescriptor_t* d) {
  *d = reinterpret_cast<cudnnFilterDescriptor_t>(new Tensor4d);
  return CUDNN_STATUS_SUCCESS;
}
inline cudnnStatus_t create_convolution(cudnnConvolutionDescriptor_t* d) {
  *d = reinterpret_cast<cudnnConvolutionDescriptor_t>(new Conv2d);
  return CUDNN_STATUS_SUCCESS;
}

inline bool cuda_type(cudnnDataType_t t, cudaDataType_t* out) {
  switch (t) {
    case CUDNN_DATA_FLOAT:
      *out = CUDA_R_32F;
      return true;
    case CUDNN_DATA_HALF:
      *out = CUDA_R_16F;
      return true;
    case CUDNN_DATA_BFLOAT16:
      *out = CUDA_R_16BF;
      return true;
    default:
      return false;
  }
}

inline cudnnStatus_t set_4d(Tensor4d* d, cudnnTensorFormat_t format, cudnnDataType_t type, int n,
                            int c, int h, int w) {
  if (format != CUDNN_TENSOR_NCHW || !cuda_type(type, &d->type)) return CUDNN_STATUS_NOT_SUPPORTED;
  if (n <= 0 || c <= 0 || h <= 0 || w <= 0) return CUDNN_STATUS_BAD_PARAM;
  d->n = n, d->c = c, d->h = h, d->w = w;
  return CUDNN_STATUS_SUCCESS;
}
inline cudnnStatus_t set_tensor_4d(cudnnTensorDescriptor_t d, cudnnTensorFormat_t format,
                                   cudnnDataType_t type, int n, int c, int h, int w) {
  return set_4d(reinterpret_cast<Tensor4d*>(d), format, type, n, c, h, w);
}
inline cudnnStatus_t set_filter_4d(cudnnFilterDescriptor_t d, cudnnDataType_t type,
                                   cudnnTensorFormat_t format, int k, int c, int h, int w) {
  return set_4d(reinterpret_cast<Tensor4d*>(d), format, type, k, c, h, w);
}

inline cudnnStatus_t set_convolution_2d(cudnnConvolutionDescriptor_t d, int pad_h, int pad_w, int u,
                                        int v, int dilation_h, int dilation_w,
                                        cudnnConvolutionMode_t mode, cudnnDataType_t compute) {
  if (dilation_h != 1 || dilation_w != 1 || mode != CUDNN_CROSS_CORRELATION ||
      compute != CUDNN_DATA_FLOAT)
    return CUDNN_STATUS_NOT_SUPPORTED;
  if (pad_h < 0 || pad_w < 0 || u <= 0 || v <= 0) return CUDNN_STATUS_BAD_PARAM;
  *reinterpret_cast<Conv2d*>(d) = Conv2d{pad_h, pad_w, u, v};
  return CUDNN_STATUS_SUCCESS;
}
inline cudnnStatus_t set_math(cudnnConvolutionDescriptor_t d, cudnnMathType_t math) {
  reinterpret_cast<Conv2d*>(d)->math = math;
  return CUDNN_STATUS_SUCCESS;
}

// The three descriptors of one convolution, checked against each other.
struct Geometry {
  const Tensor4d &x, &w, &y;
  const Conv2d& conv;
  bool agrees() const {
    const int oh = (x.h + 2 * conv.pad_h - w.h) / conv.stride_h + 1,
              ow = (x.w + 2 * conv.pad_w - w.w) / conv.stride_w + 1;
    // fp32 must not run on the tensor cores (TF32): FMA math only.
    const bool math_fits = x.type != CUDA_R_32F || conv.math == CUDNN_FMA_MATH;
    return x.type == w.type && x.type == y.type && w.c == x.c && y.n == x.n && y.c == w.n &&
           y.h == oh && y.w == ow && math_fits;
  }
};
inline Geometry geometry(cudnnTensorDescriptor_t x, cudnnFilterDescriptor_t w,
                         cudnnTensorDescriptor_t y, cudnnConvolutionDescriptor_t conv) {
  return {*reinterpret_cast<const Tensor4d*>(x), *reinterpret_cast<const Tensor4d*>(w),
          *reinterpret_cast<const Tensor4d*>(y), *reinterpret_cast<const Conv2d*>(conv)};
}

template <class Algo, class Perf>
cudnnStatus_t find(const std::vector<Offer<Algo>>& candidates, bool agrees, int requested,
                   int* returned, Perf* perf) {
  if (!agrees) return CUDNN_STATUS_BAD_PARAM;
  std::vector<Offer<Algo>> sorted = candidates;
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const Offer<Algo>& a, const Offer<Algo>& b) { return a.time < b.time; });
  *returned = std::min(requested, static_cast<int>(sorted.size()));
  for (int i = 0; i < *returned; ++i) {
    perf[i] = Perf{};
    perf[i].algo = sorted[i].algo;
    perf[i].status = CUDNN_STATUS_SUCCESS;
    perf[i].time = sorted[i].time;
    perf[i].memory = sorted[i].memory;
    perf[i].determinism = sorted[i].deterministic ? CUDNN_DETERMINISTIC : CUDNN_NON_DETERMINISTIC;
  }
  return CUDNN_STATUS_SUCCESS;
}

inline cudnnStatus_t find_forward(cudnnHandle_t, cudnnTensorDescriptor_t x,
                                  cudnnFilterDescriptor_t w, cudnnConvolutionDescriptor_t conv,
                                  cudnnTensorDescriptor_t y, int requested, int* returned,
                                  cudnnConvolutionFwdAlgoPerf_t* perf) {
  return find(offers.forward, geometry(x, w, y, conv).agrees(), requested, returned, perf);
}
inline cudnnStatus_t find_backward_data(cudnnHandle_t, cudnnFilterDescriptor_t w,
                                        cudnnTensorDescriptor_t dy,
                                        cudnnConvolutionDescriptor_t conv,
                                        cudnnTensorDescriptor_t dx, int requested, int* returned,
                                        cudnnConvolutionBwdDataAlgoPerf_t* perf) {
  return find(offers.backward_data, geometry(dx, w, dy, conv).agrees(), requested, returned, perf);
}
inline cudnnStatus_t find_backward_filter(cudnnHandle_t, cudnnTensorDescriptor_t x,
                                          cudnnTensorDescriptor_t dy,
                                          cudnnConvolutionDescriptor_t conv,
                                          cudnnFilterDescriptor_t dw, int requested, int* returned,
                                          cudnnConvolutionBwdFilterAlgoPerf_t* perf) {
  return find(offers.backward_filter, geometry(x, dw, dy, conv).agrees(), requested, returned,
              perf);
}

// Whether `algo` was offered for its kind, with no more workspace than it is given.
template <class Algo>
bool runnable(const std::vector<Offer<Algo>>& candidates, Algo algo, size_t workspace) {
  for (const Offer<Algo>& o : candidates)
    if (o.algo == algo) return workspace >= o.memory;
  return false;
}

// Calls f(n, oc, oy, ox, c, iy, ix, wi) for every product of the convolution: output (n, oc, oy,
// ox) takes input (n, c, iy, ix) times weight element wi.
template <class F>
void each_product(const Geometry& g, F f) {
  const Tensor4d &x = g.x, &w = g.w, &y = g.y;
  for (int n = 0; n < y.n; ++n)
    for (int oc = 0; oc < y.c; ++oc)
      for (int oy = 0; oy < y.h; ++oy)
        for (int ox = 0; ox < y.w; ++ox)
          for (int c = 0; c < x.c; ++c)
            for (int ky = 0; ky < w.h; ++ky)
              for (int kx = 0; kx < w.w; ++kx) {
                const int iy = oy * g.conv.stride_h - g.conv.pad_h + ky,
                          ix = ox * g.conv.stride_w - g.conv.pad_w + kx;
                if (iy < 0 || iy >= x.h || ix < 0 || ix >= x.w) continue;
                f(n, oc, oy, ox, c, iy, ix, ((int64_t{oc} * w.c + c) * w.h + ky) * w.w + kx);
              }
}

inline int64_t at(const Tensor4d& t, int n, int c, int h, int w) {
  return ((int64_t{n} * t.c + c) * t.h + h) * t.w + w;
}
inline int64_t count(const Tensor4d& t) { return int64_t{t.n} * t.c * t.h * t.w; }

// out = alpha acc + beta out, rounded to out's type; out is not read when beta is 0.
inline void write(const std::vector<float>& acc, float alpha, float beta, void* out,
                  cudaDataType_t type) {
  for (int64_t i = 0; i < static_cast<int64_t>(acc.size()); ++i)
    blas::set_element(out, type, i,
                      alpha * acc[i] + (beta == 0.0f ? 0.0f : beta * blas::element(out, type, i)));
}

// One pass of a convolution into `out` (described by out_desc): checked, its algorithm
// recorded in `last`, then out = alpha (the sum of what add(acc, product...) adds for every
// product) + beta out.
template <class Algo, class Add>
cudnnStatus_t pass(const Geometry& g, const std::vector<Offer<Algo>>& offered, Algo algo,
                   size_t workspace, Algo& last, const Tensor4d& out_desc, const void* alpha,
                   const void* beta, void* out, Add add) {
  if (!g.agrees() || !runnable(offered, algo, workspace)) return CUDNN_STATUS_BAD_PARAM;
  last = algo;
  std::vector<float> acc(static_cast<size_t>(count(out_desc)), 0.0f);
  each_product(g, [&](int n, int oc, int oy, int ox, int c, int iy, int ix, int64_t wi) {
    add(acc, n, oc, oy, ox, c, iy, ix, wi);
  });
  write(acc, *static_cast<const float*>(alpha), *static_cast<const float*>(beta), out,
        out_desc.type);
  return CUDNN_STATUS_SUCCESS;
}

inline cudnnStatus_t convolution_forward(cudnnHandle_t, const void* alpha,
                                         cudnnTensorDescriptor_t xd, const void* x,
                                         cudnnFilterDescriptor_t wd, const void* w,
                                         cudnnConvolutionDescriptor_t cd,
                                         cudnnConvolutionFwdAlgo_t algo, void*, size_t workspace,
                                         const void* beta, cudnnTensorDescriptor_t yd, void* y) {
  const Geometry g = geometry(xd, wd, yd, cd);
  return pass(g, offers.forward, algo, workspace, last_forward, g.y, alpha, beta, y,
              [&](std::vector<float>& acc, int n, int oc, int oy, int ox, int c, int iy, int ix,
                  int64_t wi) {
                acc[static_cast<size_t>(at(g.y, n, oc, oy, ox))] +=
                    blas::element(x, g.x.type, at(g.x, n, c, iy, ix)) *
                    blas::element(w, g.w.type, wi);
              });
}

inline cudnnStatus_t convolution_backward_data(cudnnHandle_t, const void* alpha,
                                               cudnnFilterDescriptor_t wd, const void* w,
                                               cudnnTensorDescriptor_t dyd, const void* dy,
                                               cudnnConvolutionDescriptor_t cd,
                                               cudnnConvolutionBwdDataAlgo_t algo, void*,
                                               size_t workspace, const void* beta,
                                               cudnnTensorDescriptor_t dxd, void* dx) {
  const Geometry g = geometry(dxd, wd, dyd, cd);
  return pass(g, offers.backward_data, algo, workspace, last_backward_data, g.x, alpha, beta, dx,
              [&](std::vector<float>& acc, int n, int oc, int oy, int ox, int c, int iy, int ix,
                  int64_t wi) {
                acc[static_cast<size_t>(at(g.x, n, c, iy, ix))] +=
                    blas::element(dy, g.y.type, at(g.y, n, oc, oy, ox)) *
                    blas::element(w, g.w.type, wi);
              });
}

inline cudnnStatus_t convolution_backward_filter(cudnnHandle_t, const void* alpha,
                                                 cudnnTensorDescriptor_t xd, const void* x,
                                                 cudnnTensorDescriptor_t dyd, const void* dy,
                                                 cudnnConvolutionDescriptor_t cd,
                                                 cudnnConvolutionBwdFilterAlgo_t algo, void*,
                                                 size_t workspace, const void* beta,
                                                 cudnnFilterDescriptor_t dwd, void* dw) {
  const Geometry g = geometry(xd, dwd, dyd, cd);
  return pass(
      g, offers.backward_filter, algo, workspace, last_backward_filter, g.w, alpha, beta, dw,
      [&](std::vector<float>& acc, int n, int oc, int oy, int ox, int c, int iy, int ix,
          int64_t wi) {
        acc[static_cast<size_t>(wi)] += blas::element(dy, g.y.type, at(g.y, n, oc, oy, ox)) *
                                        blas::element(x, g.x.type, at(g.x, n, c, iy, ix));
      });
}

// The bias (1, C, 1, 1) and a (N, C, H, W) tensor: whether they agree.
inline bool bias_fits(const Tensor4d& b, const Tensor4d& t) {
  return b.n == 1 && b.h == 1 && b.w == 1 && b.c == t.c && b.type == t.type;
}

// y = alpha b (on every position of its channel) + beta y
inline cudnnStatus_t add_tensor(cudnnHandle_t, const void* alpha, cudnnTensorDescriptor_t bd,
                                const void* b, const void* beta, cudnnTensorDescriptor_t yd,
                                void* y) {
  const auto &bt = *reinterpret_cast<const Tensor4d*>(bd),
             &yt = *reinterpret_cast<const Tensor4d*>(yd);
  if (!bias_fits(bt, yt)) return CUDNN_STATUS_BAD_PARAM;
  const float al = *static_cast<const float*>(alpha), be = *static_cast<const float*>(beta);
  for (int64_t i = 0; i < count(yt); ++i) {
    const int c = static_cast<int>(i / (int64_t{yt.h} * yt.w) % yt.c);
    const float old = be == 0.0f ? 0.0f : be * blas::element(y, yt.type, i);
    blas::set_element(y, yt.type, i, al * blas::element(b, bt.type, c) + old);
  }
  return CUDNN_STATUS_SUCCESS;
}

// db = alpha (the sum of dy over each channel) + beta db
inline cudnnStatus_t convolution_backward_bias(cudnnHandle_t, const void* alpha,
                                               cudnnTensorDescriptor_t dyd, const void* dy,
                                               const void* beta, cudnnTensorDescriptor_t dbd,
                                               void* db) {
  const auto &yt = *reinterpret_cast<const Tensor4d*>(dyd),
             &bt = *reinterpret_cast<const Tensor4d*>(dbd);
  if (!bias_fits(bt, yt)) return CUDNN_STATUS_BAD_PARAM;
  std::vector<float> acc(static_cast<size_t>(bt.c), 0.0f);
  for (int64_t i = 0; i < count(yt); ++i)
    acc[static_cast<size_t>(i / (int64_t{yt.h} * yt.w) % yt.c)] += blas::element(dy, yt.type, i);
  write(acc, *static_cast<const float*>(alpha), *static_cast<const float*>(beta), db, bt.type);
  return CUDNN_STATUS_SUCCESS;
}

}  // namespace emulated::dnn
