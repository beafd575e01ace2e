#include "core/ops.h"

#include <initializer_list>
#include <type_traits>

#include "core/cpu/attention.h"
#include "core/cpu/cast.h"
#include "core/cpu/embedding.h"
#include "core/cpu/gather.h"
#include "core/cpu/linear.h"
#include "core/cpu/norm.h"
#include "core/cpu/optim.h"
#include "core/error.h"
#ifdef TRAINER_HAS_CUDA
#include "core/cuda/attention.cuh"
#include "core/cuda/cast.cuh"
#include "core/cuda/conv.cuh"
#include "core/cuda/elementwise.cuh"
#include "core/cuda/embedding.cuh"
#include "core/cuda/gather.cuh"
#include "core/cuda/linear.cuh"
#include "core/cuda/loss.cuh"
#include "core/cuda/norm.cuh"
#include "core/cuda/optim.cuh"
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

// Throws InternalError "op: what" unless ok. `what` is a message or a function that makes one,
// called only then: an op's checks format no shapes on every call of a step.
template <class What>
static void require(bool ok, const char* op, const What& what) {
  if (ok) return;
  if constexpr (std::is_invocable_v<const What&>)
    throw InternalError(std::string(op) + ": " + what());
  else
    throw InternalError(std::string(op) + ": " + what);
}

#ifdef TRAINER_HAS_CUDA
// Whether an op's tensors (undefined ones aside) are all of one 16-bit type on the GPU: its CUDA
// kernel then reads and writes them as they are, without float copies.
static bool gpu_16(const char* op, std::initializer_list<const Tensor*> tensors) {
  const Tensor& first = **tensors.begin();
  if (first.dtype() == DType::F32 || !on_gpu(first, op)) return false;
  for (const Tensor* t : tensors)
    if (t->defined() && t->dtype() != first.dtype()) return false;
  return true;
}

static bool is_bf16(const Tensor& t) { return t.dtype() == DType::BF16; }
static void* raw_or_null(const Tensor& t) { return t.defined() ? t.raw() : nullptr; }
#endif

static float* opt_f32(const Tensor& t) { return t.defined() ? t.f32() : nullptr; }

static const uint16_t* u16(const Tensor& t) { return static_cast<const uint16_t*>(t.raw()); }
static uint16_t* u16(Tensor& t) { return static_cast<uint16_t*>(t.raw()); }

void cast_into(const Tensor& src, Tensor& dst) {
  require(src.numel() == dst.numel() && src.device() == dst.device(), "cast",
          [&] { return shape_str(src.shape()) + " into " + shape_str(dst.shape()); });
  const DType from = src.dtype(), to = dst.dtype();
  const int64_t n = src.numel();
  if (from == to) return dst.copy_from(src);
  if (from == DType::F32 && to == DType::F16)
    return BACKEND(src, f32_to_f16)(n, src.f32(), u16(dst));
  if (from == DType::F16 && to == DType::F32)
    return BACKEND(src, f16_to_f32)(n, u16(src), dst.f32());
  if (from == DType::F32 && to == DType::BF16)
    return BACKEND(src, f32_to_bf16)(n, src.f32(), u16(dst));
  if (from == DType::BF16 && to == DType::F32)
    return BACKEND(src, bf16_to_f32)(n, u16(src), dst.f32());
  throw InternalError(std::string("cast from ") + dtype_name(from) + " to " + dtype_name(to));
}

Tensor cast(const Tensor& src, DType to) {
  if (!src.defined() || src.dtype() == to) return src;
  Tensor out = Tensor::empty(src.shape(), to, src.device());
  cast_into(src, out);
  return out;
}

namespace {

// The kernels compute in float. An fp16 / bf16 tensor is storage: an input is widened for the
// kernel, and a result is computed in float and rounded once into its half tensor, which is
// what tensor cores do too (half operands, float accumulation, a half result).
class In {
 public:
  explicit In(const Tensor& t) : t_(cast(t, DType::F32)) {}
  float* get() const { return opt_f32(t_); }

 private:
  Tensor t_;
};

class Out {
 public:
  explicit Out(Tensor& out)
      : out_(out),
        f32_(!out.defined() || out.dtype() == DType::F32
                 ? out
                 : Tensor::empty(out.shape(), DType::F32, out.device())) {}
  float* get() const { return opt_f32(f32_); }
  // After the kernel: rounds a float result into a half output.
  void done() {
    if (out_.defined() && out_.dtype() != DType::F32) cast_into(f32_, out_);
  }

 private:
  Tensor& out_;
  Tensor f32_;
};

}  // namespace

void linear_forward(const Tensor& x, const Tensor& w, const Tensor& b, Tensor& y) {
  const int64_t N = x.dim(0), in = x.dim(1), out = w.dim(0);
  require(w.dim(1) == in && y.dim(0) == N && y.dim(1) == out, "linear_forward", [&] {
    return "x " + shape_str(x.shape()) + " w " + shape_str(w.shape()) + " y " +
           shape_str(y.shape());
  });
#ifdef TRAINER_HAS_CUDA
  if (on_gpu(x, "linear_forward") && x.dtype() != DType::F32) {  // the tensor cores
    require(w.dtype() == x.dtype() && y.dtype() == x.dtype(), "linear_forward",
            "16-bit x needs w and y of its type");
    return cuda::linear_forward_16(is_bf16(x), N, in, out, x.raw(), w.raw(), raw_or_null(b),
                                   y.raw());
  }
#endif
  Out yo(y);
  BACKEND(x, linear_forward)(N, in, out, In(x).get(), In(w).get(), In(b).get(), yo.get());
  yo.done();
}

void linear_backward(const Tensor& x, const Tensor& w, const Tensor& dy, Tensor& dx, Tensor& dw,
                     Tensor& db) {
  const int64_t N = x.dim(0), in = x.dim(1), out = w.dim(0);
  require(dy.dim(0) == N && dy.dim(1) == out, "linear_backward",
          [&] { return "dy " + shape_str(dy.shape()); });
#ifdef TRAINER_HAS_CUDA
  if (on_gpu(x, "linear_backward") && x.dtype() != DType::F32) {
    require(w.dtype() == x.dtype() && dy.dtype() == x.dtype(), "linear_backward",
            "16-bit x needs w and dy of its type");
    return cuda::linear_backward_16(is_bf16(x), N, in, out, x.raw(), w.raw(), dy.raw(),
                                    raw_or_null(dx), opt_f32(dw), opt_f32(db));
  }
#endif
  Out dxo(dx);
  BACKEND(x, linear_backward)
  (N, in, out, In(x).get(), In(w).get(), In(dy).get(), dxo.get(), opt_f32(dw), opt_f32(db));
  dxo.done();
}

void linear_input_grad(const Tensor& w, const Tensor& dy, Tensor& dx) {
  const int64_t N = dy.dim(0), in = w.dim(1), out = w.dim(0);
  require(dy.dim(1) == out && dx.dim(0) == N && dx.dim(1) == in, "linear_input_grad",
          [&] { return "dy " + shape_str(dy.shape()) + ", dx " + shape_str(dx.shape()); });
#ifdef TRAINER_HAS_CUDA
  if (on_gpu(dy, "linear_input_grad") && dy.dtype() != DType::F32) {
    require(w.dtype() == dy.dtype(), "linear_input_grad", "16-bit dy needs w of its type");
    return cuda::linear_backward_16(is_bf16(dy), N, in, out, nullptr, w.raw(), dy.raw(), dx.raw(),
                                    nullptr, nullptr);
  }
#endif
  Out dxo(dx);
  BACKEND(dy, linear_backward)
  (N, in, out, nullptr, In(w).get(), In(dy).get(), dxo.get(), nullptr, nullptr);
  dxo.done();
}

void conv2d_forward(const ConvGeometry& g, const Tensor& x, const Tensor& w, const Tensor& b,
                    Tensor& y) {
  require(x.ndim() == 4 && x.dim(1) == g.C && x.dim(2) == g.H && x.dim(3) == g.W, "conv2d_forward",
          [&] { return "x " + shape_str(x.shape()); });
#ifdef TRAINER_HAS_CUDA
  if (on_gpu(x, "conv2d_forward") && x.dtype() != DType::F32) {  // the tensor cores
    require(w.dtype() == x.dtype() && y.dtype() == x.dtype() &&
                (!b.defined() || b.dtype() == x.dtype()),
            "conv2d_forward", "16-bit x needs w, b and y of its type");
    return cuda::conv2d_forward_16(is_bf16(x), g, x.dim(0), w.dim(0), x.raw(), w.raw(),
                                   raw_or_null(b), y.raw());
  }
#endif
  Out yo(y);
  BACKEND(x, conv2d_forward)
  (g, x.dim(0), w.dim(0), In(x).get(), In(w).get(), In(b).get(), yo.get());
  yo.done();
}

void conv2d_backward(const ConvGeometry& g, const Tensor& x, const Tensor& w, const Tensor& dy,
                     Tensor& dx, Tensor& dw, Tensor& db) {
  require(dy.numel() == x.dim(0) * w.dim(0) * g.out_plane(), "conv2d_backward",
          [&] { return "dy " + shape_str(dy.shape()); });
#ifdef TRAINER_HAS_CUDA
  if (on_gpu(x, "conv2d_backward") && x.dtype() != DType::F32) {
    require(w.dtype() == x.dtype() && dy.dtype() == x.dtype(), "conv2d_backward",
            "16-bit x needs w and dy of its type");
    return cuda::conv2d_backward_16(is_bf16(x), g, x.dim(0), w.dim(0), x.raw(), w.raw(), dy.raw(),
                                    raw_or_null(dx), dw.f32(), opt_f32(db));
  }
#endif
  Out dxo(dx);
  BACKEND(x, conv2d_backward)
  (g, x.dim(0), w.dim(0), In(x).get(), In(w).get(), In(dy).get(), dxo.get(), dw.f32(), opt_f32(db));
  dxo.done();
}

void maxpool_forward(const PoolGeometry& g, const Tensor& x, Tensor& y, Tensor& argmax) {
  const int64_t planes = x.numel() / (g.H * g.W);
#ifdef TRAINER_HAS_CUDA
  if (gpu_16("maxpool_forward", {&x, &y}))
    return cuda::maxpool_forward_16(is_bf16(x), g, planes, x.raw(), y.raw(), argmax.i32());
#endif
  Out yo(y);
  BACKEND(x, maxpool_forward)(g, planes, In(x).get(), yo.get(), argmax.i32());
  yo.done();
}

void maxpool_backward(const PoolGeometry& g, const Tensor& dy, const Tensor& argmax, Tensor& dx) {
  const int64_t planes = dy.numel() / (g.OH * g.OW);
#ifdef TRAINER_HAS_CUDA
  if (gpu_16("maxpool_backward", {&dy, &dx}))
    return cuda::maxpool_backward_16(is_bf16(dy), g, planes, dy.raw(), argmax.i32(), dx.raw());
#endif
  Out dxo(dx);
  BACKEND(dy, maxpool_backward)(g, planes, In(dy).get(), argmax.i32(), dxo.get());
  dxo.done();
}

void activation_forward(Activation f, const Tensor& x, Tensor& y) {
#ifdef TRAINER_HAS_CUDA
  if (gpu_16("activation_forward", {&x, &y}))
    return cuda::activation_forward_16(is_bf16(x), f, x.numel(), x.raw(), y.raw());
#endif
  Out yo(y);
  BACKEND(x, activation_forward)(f, x.numel(), In(x).get(), yo.get());
  yo.done();
}

void activation_backward(Activation f, const Tensor& saved, const Tensor& dy, Tensor& dx) {
#ifdef TRAINER_HAS_CUDA
  if (gpu_16("activation_backward", {&dy, &saved, &dx}))
    return cuda::activation_backward_16(is_bf16(dy), f, dy.numel(), saved.raw(), dy.raw(),
                                        dx.raw());
#endif
  Out dxo(dx);
  BACKEND(dy, activation_backward)(f, dy.numel(), In(saved).get(), In(dy).get(), dxo.get());
  dxo.done();
}

void dropout(const Tensor& x, const cpu::DropoutMask& mask, Tensor& y) {
  require(x.ndim() >= 1 && x.numel() == y.numel(), "dropout",
          [&] { return shape_str(x.shape()) + " into " + shape_str(y.shape()); });
  const int64_t N = x.dim(0), per = N ? x.numel() / N : 0;
  Out yo(y);
  BACKEND(x, dropout)(N, per, mask, In(x).get(), yo.get());
  yo.done();
}

void add(const Tensor& a, const Tensor& b, Tensor& y) {
  require(a.numel() == b.numel() && a.numel() == y.numel(), "add",
          [&] { return shape_str(a.shape()) + " + " + shape_str(b.shape()); });
#ifdef TRAINER_HAS_CUDA
  if (gpu_16("add", {&a, &b, &y}))
    return cuda::add_16(is_bf16(a), a.numel(), a.raw(), b.raw(), y.raw());
#endif
  Out yo(y);
  BACKEND(a, add)(a.numel(), In(a).get(), In(b).get(), yo.get());
  yo.done();
}

void layer_norm_forward(const Tensor& x, const Tensor& w, const Tensor& b, Tensor& y, Tensor& mean,
                        Tensor& rstd) {
  const int64_t C = x.dim(-1), R = x.numel() / C;
  require(w.numel() == C && b.numel() == C && y.numel() == x.numel() && mean.numel() == R &&
              rstd.numel() == R,
          "layer_norm_forward",
          [&] { return "x " + shape_str(x.shape()) + " w " + shape_str(w.shape()); });
#ifdef TRAINER_HAS_CUDA
  if (gpu_16("layer_norm_forward", {&x, &w, &b, &y}))
    return cuda::layer_norm_forward_16(is_bf16(x), R, C, x.raw(), w.raw(), b.raw(), y.raw(),
                                       mean.f32(), rstd.f32());
#endif
  Out yo(y);
  BACKEND(x, layer_norm_forward)
  (R, C, In(x).get(), In(w).get(), In(b).get(), yo.get(), mean.f32(), rstd.f32());
  yo.done();
}

void layer_norm_backward(const Tensor& x, const Tensor& w, const Tensor& mean, const Tensor& rstd,
                         const Tensor& dy, Tensor& dx, Tensor& dw, Tensor& db) {
  const int64_t C = x.dim(-1), R = x.numel() / C;
  require(dy.numel() == x.numel(), "layer_norm_backward",
          [&] { return "dy " + shape_str(dy.shape()); });
#ifdef TRAINER_HAS_CUDA
  if (gpu_16("layer_norm_backward", {&x, &w, &dy, &dx}))
    return cuda::layer_norm_backward_16(is_bf16(x), R, C, x.raw(), w.raw(), mean.f32(), rstd.f32(),
                                        dy.raw(), raw_or_null(dx), dw.f32(), db.f32());
#endif
  Out dxo(dx);
  BACKEND(x, layer_norm_backward)
  (R, C, In(x).get(), In(w).get(), mean.f32(), rstd.f32(), In(dy).get(), dxo.get(), dw.f32(),
   db.f32());
  dxo.done();
}

void attention_forward(int64_t heads, const Tensor& qkv, Tensor& y, Tensor& stats) {
  const int64_t N = qkv.dim(0), T = qkv.dim(1), C = qkv.dim(2) / 3, D = C / heads;
  require(qkv.ndim() == 3 && C * 3 == qkv.dim(2) && D * heads == C && y.numel() == N * T * C &&
              stats.numel() == N * heads * T * 2,
          "attention_forward",
          [&] { return "qkv " + shape_str(qkv.shape()) + " heads " + std::to_string(heads); });
#ifdef TRAINER_HAS_CUDA
  if (on_gpu(qkv, "attention_forward") && qkv.dtype() != DType::F32) {  // the tensor cores
    require(y.dtype() == qkv.dtype(), "attention_forward", "16-bit qkv needs y of its type");
    return cuda::attention_forward_16(is_bf16(qkv), N, T, heads, D, qkv.raw(), y.raw(),
                                      stats.f32());
  }
#endif
  Out yo(y);
  BACKEND(qkv, attention_forward)(N, T, heads, D, In(qkv).get(), yo.get(), stats.f32());
  yo.done();
}

void attention_backward(int64_t heads, const Tensor& qkv, const Tensor& y, const Tensor& stats,
                        const Tensor& dy, Tensor& dqkv) {
  const int64_t N = qkv.dim(0), T = qkv.dim(1), C = qkv.dim(2) / 3, D = C / heads;
  require(dy.numel() == N * T * C && y.numel() == N * T * C && dqkv.numel() == qkv.numel() &&
              stats.numel() == N * heads * T * 2,
          "attention_backward", [&] {
            return "dy " + shape_str(dy.shape()) + " y " + shape_str(y.shape()) + " stats " +
                   shape_str(stats.shape());
          });
#ifdef TRAINER_HAS_CUDA
  if (on_gpu(qkv, "attention_backward") && qkv.dtype() != DType::F32) {
    require(dy.dtype() == qkv.dtype() && y.dtype() == qkv.dtype() && dqkv.dtype() == qkv.dtype(),
            "attention_backward", "16-bit qkv needs y, dy and dqkv of its type");
    return cuda::attention_backward_16(is_bf16(qkv), N, T, heads, D, qkv.raw(), y.raw(),
                                       stats.f32(), dy.raw(), dqkv.raw());
  }
#endif
  Out dqo(dqkv);
  BACKEND(qkv, attention_backward)
  (N, T, heads, D, In(qkv).get(), In(y).get(), stats.f32(), In(dy).get(), dqo.get());
  dqo.done();
}

void embedding_forward(const Tensor& tokens, const Tensor& wte, const Tensor& wpe, Tensor& y,
                       int64_t vocab_begin, bool positions) {
  const int64_t N = tokens.dim(0), T = tokens.dim(1), C = wte.dim(1);
  require(
      tokens.dtype() == DType::I32 && wpe.dim(0) >= T && wpe.dim(1) == C && y.numel() == N * T * C,
      "embedding_forward", [&] {
        return "tokens " + shape_str(tokens.shape()) + " wte " + shape_str(wte.shape()) + " wpe " +
               shape_str(wpe.shape());
      });
  Out yo(y);
  In p(wpe);
  BACKEND(tokens, embedding_forward)
  (N, T, C, tokens.i32(), In(wte).get(), {vocab_begin, wte.dim(0)}, positions ? p.get() : nullptr,
   yo.get());
  yo.done();
}

void embedding_backward(const Tensor& tokens, const Tensor& dy, Tensor& dwte, Tensor& dwpe,
                        int64_t vocab_begin) {
  const int64_t N = tokens.dim(0), T = tokens.dim(1), C = dwte.dim(1);
  require(dy.numel() == N * T * C, "embedding_backward",
          [&] { return "dy " + shape_str(dy.shape()); });
  BACKEND(tokens, embedding_backward)
  (N, T, C, tokens.i32(), In(dy).get(), dwte.f32(), {vocab_begin, dwte.dim(0)}, dwpe.f32());
}

static void check_loss_args(const Tensor& logits, const Tensor& labels, const char* op) {
  require(logits.ndim() == 2 && labels.ndim() == 1 && labels.dim(0) == logits.dim(0), op, [&] {
    return "logits " + shape_str(logits.shape()) + " labels " + shape_str(labels.shape());
  });
}

static double* totals_for(const Tensor& logits, LossTotals& totals, const char* op) {
  require(totals.device() == logits.device(), op, "the loss totals are on another device");
  return totals.sums();
}

void cross_entropy(const Tensor& logits, const Tensor& labels, float grad_scale, Tensor& dlogits,
                   LossTotals& totals) {
  check_loss_args(logits, labels, "cross_entropy");
#ifdef TRAINER_HAS_CUDA
  if (gpu_16("cross_entropy", {&logits, &dlogits}))
    return cuda::softmax_cross_entropy_16(
        is_bf16(logits), logits.dim(0), logits.dim(1), logits.raw(), labels.i32(), grad_scale,
        raw_or_null(dlogits), totals_for(logits, totals, "cross_entropy"));
#endif
  Out d(dlogits);
  BACKEND(logits, softmax_cross_entropy)
  (logits.dim(0), logits.dim(1), In(logits).get(), labels.i32(), grad_scale, d.get(),
   totals_for(logits, totals, "cross_entropy"));
  d.done();
}

void mse(const Tensor& logits, const Tensor& labels, float grad_scale, Tensor& dlogits,
         LossTotals& totals) {
  check_loss_args(logits, labels, "mse");
  Out d(dlogits);
  BACKEND(logits, mse_onehot)
  (logits.dim(0), logits.dim(1), In(logits).get(), labels.i32(), grad_scale, d.get(),
   totals_for(logits, totals, "mse"));
  d.done();
}

void split_ce_max_target(const Tensor& logits, const Tensor& labels, int64_t begin, Tensor& row_max,
                         Tensor& target) {
  check_loss_args(logits, labels, "split_ce_max_target");
  BACKEND(logits, split_ce_max_target)
  (logits.dim(0), logits.dim(1), In(logits).get(), labels.i32(), begin, row_max.f32(),
   target.f32());
}

void split_ce_sum_exp(const Tensor& logits, const Tensor& row_max, Tensor& sum_exp) {
  BACKEND(logits, split_ce_sum_exp)
  (logits.dim(0), logits.dim(1), In(logits).get(), row_max.f32(), sum_exp.f32());
}

void split_ce_loss(const Tensor& logits, const Tensor& labels, int64_t begin, const Tensor& row_max,
                   const Tensor& sum_exp, const Tensor& target, float grad_scale, Tensor& dlogits,
                   LossTotals& totals) {
  check_loss_args(logits, labels, "split_ce_loss");
  Out d(dlogits);
  BACKEND(logits, split_ce_loss)
  (logits.dim(0), logits.dim(1), In(logits).get(), labels.i32(), begin, row_max.f32(),
   sum_exp.f32(), target.f32(), grad_scale, d.get(), totals_for(logits, totals, "split_ce_loss"));
  d.done();
}

void gather_rows(const Tensor& src, const Tensor& idx, Tensor& dst) {
  const int64_t n = idx.numel(), row = src.dim(0) ? src.numel() / src.dim(0) : 0;
  require(dtype_size(src.dtype()) == 4 && src.dtype() == dst.dtype() && dst.numel() == n * row,
          "gather_rows",
          [&] { return "src " + shape_str(src.shape()) + " dst " + shape_str(dst.shape()); });
  BACKEND(src, gather_rows)
  (n, row, idx.i32(), static_cast<const uint32_t*>(src.raw()), static_cast<uint32_t*>(dst.raw()));
}

double sum_squares(const Tensor& x) { return BACKEND(x, sum_squares)(x.numel(), In(x).get()); }

void scale_by(Tensor& x, const float* alpha) { BACKEND(x, scale_by)(x.numel(), alpha, x.f32()); }

void decide_update(const Tensor& grads, const LossTotals& totals, double unscale, double max_norm,
                   Tensor& decision) {
  require(decision.bytes() == sizeof(cpu::UpdateDecision) && decision.device() == grads.device() &&
              totals.device() == grads.device(),
          "decide_update", "the decision and the loss totals must be where the gradients are");
  BACKEND(grads, decide_update)
  (grads.numel(), grads.f32(), totals.sums(), unscale, max_norm,
   static_cast<cpu::UpdateDecision*>(decision.raw()));
}

}  // namespace trainer::ops
