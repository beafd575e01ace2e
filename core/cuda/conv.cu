#include <cudnn.h>

#include <map>
#include <mutex>
#include <tuple>

#include "core/cuda/column_sums.cuh"
#include "core/cuda/conv.cuh"
#include "core/cuda/launch.cuh"
#include "core/cuda/scratch.cuh"
#include "core/half.h"

namespace trainer::cuda {

namespace {

cudnnHandle_t handle() {
  static cudnnHandle_t h = [] {
    cudnnHandle_t created = nullptr;
    CUDNN_CHECK(cudnnCreate(&created));
    CUDNN_CHECK(cudnnSetStream(created, stream()));
    return created;
  }();
  return h;
}

// cuDNN's element type for a convolution's tensors; its arithmetic is float in every case.
cudnnDataType_t data_type(ConvType t) {
  return t == ConvType::F16    ? CUDNN_DATA_HALF
         : t == ConvType::BF16 ? CUDNN_DATA_BFLOAT16
                               : CUDNN_DATA_FLOAT;
}

// Descriptors and chosen algorithms of one shape.
struct ConvPlan {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr, bias = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  cudnnConvolutionFwdAlgo_t fwd{};
  cudnnConvolutionBwdDataAlgo_t bwd_data{};
  cudnnConvolutionBwdFilterAlgo_t bwd_filter{};
  size_t fwd_ws = 0, bwd_data_ws = 0, bwd_filter_ws = 0;
};

// FFT and Winograd algorithms compute in a transformed domain, whose rounding error can be far
// above a direct (implicit-GEMM) sum's.
bool transformed(cudnnConvolutionFwdAlgo_t a) {
  return a == CUDNN_CONVOLUTION_FWD_ALGO_FFT || a == CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING ||
         a == CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD ||
         a == CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED;
}
bool transformed(cudnnConvolutionBwdDataAlgo_t a) {
  return a == CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT ||
         a == CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT_TILING ||
         a == CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD ||
         a == CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD_NONFUSED;
}
bool transformed(cudnnConvolutionBwdFilterAlgo_t a) {
  return a == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT ||
         a == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT_TILING ||
         a == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_WINOGRAD_NONFUSED;
}

// A transformed algorithm is taken only when it is clearly faster than the best direct one.
constexpr float kTransformedMustWin = 0.8f;

// The candidate of a Find call (results come sorted by time) to use: deterministic; the fastest
// direct one unless a transformed one takes under kTransformedMustWin of its time.
template <class Perf>
const Perf& choose(const Perf* perf, int count, const char* what) {
  const Perf *direct = nullptr, *any = nullptr;
  for (int i = 0; i < count; ++i) {
    if (perf[i].status != CUDNN_STATUS_SUCCESS || perf[i].determinism != CUDNN_DETERMINISTIC)
      continue;
    if (!any) any = &perf[i];
    if (!direct && !transformed(perf[i].algo)) direct = &perf[i];
  }
  if (!any)
    throw DeviceError(std::string("cuDNN has no deterministic ") + what +
                      " algorithm for this shape");
  return direct && !(any->time < kTransformedMustWin * direct->time) ? *direct : *any;
}

// fp32 tensors use FMA math (no TF32, as on the CPU); fp16 / bf16 tensors the tensor cores, with
// float accumulation (the conv descriptor's compute type).
ConvPlan make_plan(const ConvGeometry& g, int64_t N, int64_t OC, ConvType type) {
  ConvPlan p;
  auto i = [](int64_t v) { return static_cast<int>(v); };
  const cudnnDataType_t t = data_type(type);
  CUDNN_CHECK(cudnnCreateTensorDescriptor(&p.x));
  CUDNN_CHECK(cudnnSetTensor4dDescriptor(p.x, CUDNN_TENSOR_NCHW, t, i(N), i(g.C), i(g.H), i(g.W)));
  CUDNN_CHECK(cudnnCreateTensorDescriptor(&p.y));
  CUDNN_CHECK(cudnnSetTensor4dDescriptor(p.y, CUDNN_TENSOR_NCHW, t, i(N), i(OC), i(g.OH), i(g.OW)));
  CUDNN_CHECK(cudnnCreateTensorDescriptor(&p.bias));
  CUDNN_CHECK(cudnnSetTensor4dDescriptor(p.bias, CUDNN_TENSOR_NCHW, t, 1, i(OC), 1, 1));
  CUDNN_CHECK(cudnnCreateFilterDescriptor(&p.w));
  CUDNN_CHECK(
      cudnnSetFilter4dDescriptor(p.w, t, CUDNN_TENSOR_NCHW, i(OC), i(g.C), i(g.KH), i(g.KW)));
  CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&p.conv));
  CUDNN_CHECK(cudnnSetConvolution2dDescriptor(p.conv, i(g.pad), i(g.pad), i(g.stride), i(g.stride),
                                              1, 1, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
  CUDNN_CHECK(cudnnSetConvolutionMathType(
      p.conv, type == ConvType::F32 ? CUDNN_FMA_MATH : CUDNN_TENSOR_OP_MATH));

  constexpr int kCandidates = 8;
  int found = 0;
  cudnnConvolutionFwdAlgoPerf_t fwd[kCandidates];
  CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithm(handle(), p.x, p.w, p.conv, p.y, kCandidates,
                                                   &found, fwd));
  const auto& f = choose(fwd, found, "forward");
  p.fwd = f.algo;
  p.fwd_ws = f.memory;
  cudnnConvolutionBwdDataAlgoPerf_t bd[kCandidates];
  CUDNN_CHECK(cudnnFindConvolutionBackwardDataAlgorithm(handle(), p.w, p.y, p.conv, p.x,
                                                        kCandidates, &found, bd));
  const auto& d = choose(bd, found, "backward-data");
  p.bwd_data = d.algo;
  p.bwd_data_ws = d.memory;
  cudnnConvolutionBwdFilterAlgoPerf_t bf[kCandidates];
  CUDNN_CHECK(cudnnFindConvolutionBackwardFilterAlgorithm(handle(), p.x, p.y, p.conv, p.w,
                                                          kCandidates, &found, bf));
  const auto& w = choose(bf, found, "backward-filter");
  p.bwd_filter = w.algo;
  p.bwd_filter_ws = w.memory;
  return p;
}

using ConvPlanKey = std::tuple<ConvType, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                           int64_t, int64_t>;

const ConvPlan& plan(const ConvGeometry& g, int64_t N, int64_t OC, ConvType type) {
  static std::mutex mu;
  static std::map<ConvPlanKey, ConvPlan>* plans = new std::map<ConvPlanKey, ConvPlan>;
  std::lock_guard<std::mutex> lock(mu);
  const ConvPlanKey key{type, N, g.C, g.H, g.W, OC, g.KH, g.KW, g.stride, g.pad};
  auto it = plans->find(key);
  if (it == plans->end()) it = plans->emplace(key, make_plan(g, N, OC, type)).first;
  return it->second;
}

// dw(n) += part(n), widened: a 16-bit weight gradient (cuDNN writes dw in its operands' type)
// added into the float master gradient.
template <class E>
__global__ void add_widened_kernel(int64_t n, const typename E::T* part, float* dw) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x)
    dw[i] += E::get(part[i]);
}

void forward(ConvType type, const ConvGeometry& g, int64_t N, int64_t OC, const void* x,
             const void* w, const void* b, void* y) {
  if (N == 0) return;
  const ConvPlan& p = plan(g, N, OC, type);
  const float one = 1.0f, zero = 0.0f;
  Scratch ws(p.fwd_ws);
  CUDNN_CHECK(cudnnConvolutionForward(handle(), &one, p.x, x, p.w, w, p.conv, p.fwd, ws.get(),
                                      ws.bytes(), &zero, p.y, y));
  if (b) CUDNN_CHECK(cudnnAddTensor(handle(), &one, p.bias, b, &one, p.y, y));
}

// The input gradient in the operands' type (beta = 0).
void backward_data(const ConvPlan& p, const void* w, const void* dy, void* dx) {
  const float one = 1.0f, zero = 0.0f;
  Scratch ws(p.bwd_data_ws);
  CUDNN_CHECK(cudnnConvolutionBackwardData(handle(), &one, p.w, w, p.y, dy, p.conv, p.bwd_data,
                                           ws.get(), ws.bytes(), &zero, p.x, dx));
}

// dw = beta dw + the weight gradient, in the operands' type.
void backward_filter(const ConvPlan& p, const void* x, const void* dy, float beta, void* dw) {
  const float one = 1.0f;
  Scratch ws(p.bwd_filter_ws);
  CUDNN_CHECK(cudnnConvolutionBackwardFilter(handle(), &one, p.x, x, p.y, dy, p.conv, p.bwd_filter,
                                             ws.get(), ws.bytes(), &beta, p.w, dw));
}

template <class E>
void backward_16(ConvType type, const ConvGeometry& g, int64_t N, int64_t OC, const void* x,
                 const void* w, const void* dy, void* dx, float* dw, float* db) {
  const ConvPlan& p = plan(g, N, OC, type);
  const int64_t dw_count = OC * g.col_rows();
  Scratch part(static_cast<size_t>(dw_count) * sizeof(uint16_t));
  backward_filter(p, x, dy, 0.0f, part.get());
  launch(add_widened_kernel<E>, blocks_for(dw_count), kThreads, 0, dw_count, part.get<uint16_t>(),
         dw);
  if (db) plane_sums<E>(N, OC, g.out_plane(), as<E>(dy), db);
  if (dx) backward_data(p, w, dy, dx);
}

}  // namespace

void conv2d_forward(const ConvGeometry& g, int64_t N, int64_t OC, const float* x, const float* w,
                    const float* b, float* y) {
  forward(ConvType::F32, g, N, OC, x, w, b, y);
}

void conv2d_forward_16(bool bf16, const ConvGeometry& g, int64_t N, int64_t OC, const void* x,
                       const void* w, const void* b, void* y) {
  forward(bf16 ? ConvType::BF16 : ConvType::F16, g, N, OC, x, w, b, y);
}

void conv2d_backward(const ConvGeometry& g, int64_t N, int64_t OC, const float* x, const float* w,
                     const float* dy, float* dx, float* dw, float* db) {
  if (N == 0) return;
  const ConvPlan& p = plan(g, N, OC, ConvType::F32);
  const float one = 1.0f;
  backward_filter(p, x, dy, 1.0f, dw);
  if (db) CUDNN_CHECK(cudnnConvolutionBackwardBias(handle(), &one, p.y, dy, &one, p.bias, db));
  if (dx) backward_data(p, w, dy, dx);
}

void conv2d_backward_16(bool bf16, const ConvGeometry& g, int64_t N, int64_t OC, const void* x,
                        const void* w, const void* dy, void* dx, float* dw, float* db) {
  if (N == 0) return;
  if (bf16)
    backward_16<Bf16Elem>(ConvType::BF16, g, N, OC, x, w, dy, dx, dw, db);
  else
    backward_16<F16Elem>(ConvType::F16, g, N, OC, x, w, dy, dx, dw, db);
}

bool conv2d_uses_transforms(const ConvGeometry& g, int64_t N, int64_t OC, ConvType type) {
  const ConvPlan& p = plan(g, N, OC, type);
  return transformed(p.fwd) || transformed(p.bwd_data) || transformed(p.bwd_filter);
}

}  // namespace trainer::cuda
