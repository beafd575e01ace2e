#include <cudnn.h>

#include <map>
#include <mutex>
#include <tuple>

#include "core/cuda/conv.cuh"
#include "core/cuda/launch.cuh"

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

ConvPlan make_plan(const ConvGeometry& g, int64_t N, int64_t OC) {
  ConvPlan p;
  auto i = [](int64_t v) { return static_cast<int>(v); };
  CUDNN_CHECK(cudnnCreateTensorDescriptor(&p.x));
  CUDNN_CHECK(cudnnSetTensor4dDescriptor(p.x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, i(N), i(g.C),
                                         i(g.H), i(g.W)));
  CUDNN_CHECK(cudnnCreateTensorDescriptor(&p.y));
  CUDNN_CHECK(cudnnSetTensor4dDescriptor(p.y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, i(N), i(OC),
                                         i(g.OH), i(g.OW)));
  CUDNN_CHECK(cudnnCreateTensorDescriptor(&p.bias));
  CUDNN_CHECK(
      cudnnSetTensor4dDescriptor(p.bias, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, i(OC), 1, 1));
  CUDNN_CHECK(cudnnCreateFilterDescriptor(&p.w));
  CUDNN_CHECK(cudnnSetFilter4dDescriptor(p.w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, i(OC), i(g.C),
                                         i(g.KH), i(g.KW)));
  CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&p.conv));
  CUDNN_CHECK(cudnnSetConvolution2dDescriptor(p.conv, i(g.pad), i(g.pad), i(g.stride), i(g.stride),
                                              1, 1, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
  CUDNN_CHECK(cudnnSetConvolutionMathType(p.conv, CUDNN_FMA_MATH));

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

using PlanKey =
    std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t>;

const ConvPlan& plan(const ConvGeometry& g, int64_t N, int64_t OC) {
  static std::mutex mu;
  static std::map<PlanKey, ConvPlan>* plans = new std::map<PlanKey, ConvPlan>;
  std::lock_guard<std::mutex> lock(mu);
  const PlanKey key{N, g.C, g.H, g.W, OC, g.KH, g.KW, g.stride, g.pad};
  auto it = plans->find(key);
  if (it == plans->end()) it = plans->emplace(key, make_plan(g, N, OC)).first;
  return it->second;
}

// A workspace for one call, returned to the allocator after it is queued: the next user of the
// block runs later on the same stream.
class Workspace {
 public:
  explicit Workspace(size_t bytes) : bytes_(bytes), p_(bytes ? device_allocate(bytes) : nullptr) {}
  ~Workspace() { device_free(p_, bytes_); }
  void* get() const { return p_; }
  size_t bytes() const { return bytes_; }

 private:
  size_t bytes_;
  void* p_;
};

}  // namespace

void conv2d_forward(const ConvGeometry& g, int64_t N, int64_t OC, const float* x, const float* w,
                    const float* b, float* y) {
  if (N == 0) return;
  const ConvPlan& p = plan(g, N, OC);
  const float one = 1.0f, zero = 0.0f;
  Workspace ws(p.fwd_ws);
  CUDNN_CHECK(cudnnConvolutionForward(handle(), &one, p.x, x, p.w, w, p.conv, p.fwd, ws.get(),
                                      ws.bytes(), &zero, p.y, y));
  if (b) CUDNN_CHECK(cudnnAddTensor(handle(), &one, p.bias, b, &one, p.y, y));
}

void conv2d_backward(const ConvGeometry& g, int64_t N, int64_t OC, const float* x, const float* w,
                     const float* dy, float* dx, float* dw, float* db) {
  if (N == 0) return;
  const ConvPlan& p = plan(g, N, OC);
  const float one = 1.0f, zero = 0.0f;
  {
    Workspace ws(p.bwd_filter_ws);
    CUDNN_CHECK(cudnnConvolutionBackwardFilter(handle(), &one, p.x, x, p.y, dy, p.conv,
                                               p.bwd_filter, ws.get(), ws.bytes(), &one, p.w, dw));
  }
  if (db) CUDNN_CHECK(cudnnConvolutionBackwardBias(handle(), &one, p.y, dy, &one, p.bias, db));
  if (dx) {
    Workspace ws(p.bwd_data_ws);
    CUDNN_CHECK(cudnnConvolutionBackwardData(handle(), &one, p.w, w, p.y, dy, p.conv, p.bwd_data,
                                             ws.get(), ws.bytes(), &zero, p.x, dx));
  }
}

bool conv2d_uses_transforms(const ConvGeometry& g, int64_t N, int64_t OC) {
  const ConvPlan& p = plan(g, N, OC);
  return transformed(p.fwd) || transformed(p.bwd_data) || transformed(p.bwd_filter);
}

}  // namespace trainer::cuda
