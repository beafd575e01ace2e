#include "core/ops.h"

#include "core/cpu/gather.h"
#include "core/cpu/linear.h"
#include "core/error.h"
#ifdef TRAINER_HAS_CUDA
#include "core/cuda/conv.cuh"
#include "core/cuda/elementwise.cuh"
#include "core/cuda/gather.cuh"
#include "core/cuda/linear.cuh"
#include "core/cuda/loss.cuh"
#include "core/cuda/pool.cuh"
#endif

namespace trainer::ops {

static bool on_gpu(const Tensor& t, [[maybe_unused]] const char* op) {
  if (t.device().is_cpu()) return false;
#ifndef TRAINER_HAS_CUDA
  throw InternalError(std::string(op) + ": this build has no CUDA backend");
#endif
  return true;
}

// The kernel `fn` of the backend that holds `t`: the twins share their signatures.
#ifdef TRAINER_HAS_CUDA
#define BACKEND(t, fn) (on_gpu(t, #fn) ? cuda::fn : cpu::fn)
#else
#define BACKEND(t, fn) (on_gpu(t, #fn), cpu::fn)
#endif

static void require(bool ok, const char* op, const std::string& what) {
  if (!ok) throw InternalError(std::string(op) + ": " + what);
}

static float* opt_f32(const Tensor& t) { return t.defined() ? t.f32() : nullptr; }

void linear_forward(const Tensor& x, const Tensor& w, const Tensor& b, Tensor& y) {
  const int64_t N = x.dim(0), in = x.dim(1), out = w.dim(0);
  require(
      w.dim(1) == in && y.dim(0) == N && y.dim(1) == out, "linear_forward",
      "x " + shape_str(x.shape()) + " w " + shape_str(w.shape()) + " y " + shape_str(y.shape()));
  BACKEND(x, linear_forward)(N, in, out, x.f32(), w.f32(), opt_f32(b), y.f32());
}

void linear_backward(const Tensor& x, const Tensor& w, const Tensor& dy, Tensor& dx, Tensor& dw,
                     Tensor& db) {
  const int64_t N = x.dim(0), in = x.dim(1), out = w.dim(0);
  require(dy.dim(0) == N && dy.dim(1) == out, "linear_backward", "dy " + shape_str(dy.shape()));
  BACKEND(x, linear_backward)
  (N, in, out, x.f32(), w.f32(), dy.f32(), opt_f32(dx), dw.f32(), opt_f32(db));
}

void conv2d_forward(const ConvGeometry& g, const Tensor& x, const Tensor& w, const Tensor& b,
                    Tensor& y) {
  require(x.ndim() == 4 && x.dim(1) == g.C && x.dim(2) == g.H && x.dim(3) == g.W, "conv2d_forward",
          "x " + shape_str(x.shape()));
  BACKEND(x, conv2d_forward)(g, x.dim(0), w.dim(0), x.f32(), w.f32(), opt_f32(b), y.f32());
}

void conv2d_backward(const ConvGeometry& g, const Tensor& x, const Tensor& w, const Tensor& dy,
                     Tensor& dx, Tensor& dw, Tensor& db) {
  require(dy.numel() == x.dim(0) * w.dim(0) * g.out_plane(), "conv2d_backward",
          "dy " + shape_str(dy.shape()));
  BACKEND(x, conv2d_backward)
  (g, x.dim(0), w.dim(0), x.f32(), w.f32(), dy.f32(), opt_f32(dx), dw.f32(), opt_f32(db));
}

void maxpool_forward(const PoolGeometry& g, const Tensor& x, Tensor& y, Tensor& argmax) {
  const int64_t planes = x.numel() / (g.H * g.W);
  BACKEND(x, maxpool_forward)(g, planes, x.f32(), y.f32(), argmax.i32());
}

void maxpool_backward(const PoolGeometry& g, const Tensor& dy, const Tensor& argmax, Tensor& dx) {
  const int64_t planes = dy.numel() / (g.OH * g.OW);
  BACKEND(dy, maxpool_backward)(g, planes, dy.f32(), argmax.i32(), dx.f32());
}

void activation_forward(Activation f, const Tensor& x, Tensor& y) {
  BACKEND(x, activation_forward)(f, x.numel(), x.f32(), y.f32());
}

void activation_backward(Activation f, const Tensor& saved, const Tensor& dy, Tensor& dx) {
  BACKEND(dy, activation_backward)(f, dy.numel(), saved.f32(), dy.f32(), dx.f32());
}

void multiply(const Tensor& x, const Tensor& mask, Tensor& y) {
  BACKEND(x, multiply)(x.numel(), x.f32(), mask.f32(), y.f32());
}

static void check_loss_args(const Tensor& logits, const Tensor& labels, const char* op) {
  require(logits.ndim() == 2 && labels.ndim() == 1 && labels.dim(0) == logits.dim(0), op,
          "logits " + shape_str(logits.shape()) + " labels " + shape_str(labels.shape()));
}

LossSums cross_entropy(const Tensor& logits, const Tensor& labels, float grad_scale,
                       Tensor& dlogits) {
  check_loss_args(logits, labels, "cross_entropy");
  return BACKEND(logits, softmax_cross_entropy)(logits.dim(0), logits.dim(1), logits.f32(),
                                                labels.i32(), grad_scale, opt_f32(dlogits));
}

LossSums mse(const Tensor& logits, const Tensor& labels, float grad_scale, Tensor& dlogits) {
  check_loss_args(logits, labels, "mse");
  return BACKEND(logits, mse_onehot)(logits.dim(0), logits.dim(1), logits.f32(), labels.i32(),
                                     grad_scale, opt_f32(dlogits));
}

void gather_rows(const Tensor& src, const Tensor& idx, Tensor& dst) {
  const int64_t n = idx.numel(), row = src.dim(0) ? src.numel() / src.dim(0) : 0;
  require(dtype_size(src.dtype()) == 4 && src.dtype() == dst.dtype() && dst.numel() == n * row,
          "gather_rows", "src " + shape_str(src.shape()) + " dst " + shape_str(dst.shape()));
  BACKEND(src, gather_rows)
  (n, row, idx.i32(), static_cast<const uint32_t*>(src.raw()), static_cast<uint32_t*>(dst.raw()));
}

double sum_squares(const Tensor& x) { return BACKEND(x, sum_squares)(x.numel(), x.f32()); }

void scale(Tensor& x, float alpha) { BACKEND(x, scale)(x.numel(), alpha, x.f32()); }

}  // namespace trainer::ops
