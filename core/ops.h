// Tensor-level ops: the one place that dispatches on the device.
//
// Each op checks shapes, then calls its kernel in core/cpu/ (the reference) or, for tensors on a
// GPU, its twin in core/cuda/ with the same signature, so layers never see a device.
#pragma once

#include "core/cpu/conv.h"
#include "core/cpu/elementwise.h"
#include "core/cpu/loss.h"
#include "core/cpu/pool.h"
#include "core/loss_totals.h"
#include "core/tensor.h"

namespace trainer::ops {

// fp16 / bf16 tensors: every op takes them for its activations, its weights' compute copies and
// its input gradients, and computes in float (see ops.cpp); parameter gradients stay float.

// dst = src converted between f32 and f16 / bf16 (round to nearest even), same element count.
void cast_into(const Tensor& src, Tensor& dst);
// src as `to` (src itself when it is already).
Tensor cast(const Tensor& src, DType to);

using cpu::Activation;
using cpu::ConvGeometry;
using cpu::LossSums;
using cpu::PoolGeometry;

// y(N, out) = x(N, in) w(out, in)ᵀ + b(out)
void linear_forward(const Tensor& x, const Tensor& w, const Tensor& b, Tensor& y);
// dw += dyᵀ x, db += Σ dy, dx = dy w (dx and db may be undefined). Each part is computed alike
// whatever else is asked, so linear_input_grad and then this without dx (a zero-bubble
// schedule's B and W) give what one call gives, bit for bit.
void linear_backward(const Tensor& x, const Tensor& w, const Tensor& dy, Tensor& dx, Tensor& dw,
                     Tensor& db);
// dx = dy w alone.
void linear_input_grad(const Tensor& w, const Tensor& dy, Tensor& dx);

void conv2d_forward(const ConvGeometry& g, const Tensor& x, const Tensor& w, const Tensor& b,
                    Tensor& y);
void conv2d_backward(const ConvGeometry& g, const Tensor& x, const Tensor& w, const Tensor& dy,
                     Tensor& dx, Tensor& dw, Tensor& db);

void maxpool_forward(const PoolGeometry& g, const Tensor& x, Tensor& y, Tensor& argmax);
void maxpool_backward(const PoolGeometry& g, const Tensor& dy, const Tensor& argmax, Tensor& dx);

void activation_forward(Activation f, const Tensor& x, Tensor& y);
void activation_backward(Activation f, const Tensor& saved, const Tensor& dy, Tensor& dx);

// y = x with dropout's mask applied (x's first dimension the samples); dy to dx alike.
void dropout(const Tensor& x, const cpu::DropoutMask& mask, Tensor& y);
// y = a + b, elementwise (the residual connection)
void add(const Tensor& a, const Tensor& b, Tensor& y);

// Layer norm over the last dimension of x(..., C); mean and rstd (rows) f32, saved for backward.
void layer_norm_forward(const Tensor& x, const Tensor& w, const Tensor& b, Tensor& y, Tensor& mean,
                        Tensor& rstd);
// dw, db accumulate; dx may be undefined.
void layer_norm_backward(const Tensor& x, const Tensor& w, const Tensor& mean, const Tensor& rstd,
                         const Tensor& dy, Tensor& dx, Tensor& dw, Tensor& db);

// Causal self-attention of `heads` heads: y(N, T, C) from qkv(N, T, 3C); stats(N, H, T, 2) f32,
// two floats per row of probabilities, is what backward needs besides qkv and forward's y
// (core/cpu/attention.h).
void attention_forward(int64_t heads, const Tensor& qkv, Tensor& y, Tensor& stats);
void attention_backward(int64_t heads, const Tensor& qkv, const Tensor& y, const Tensor& stats,
                        const Tensor& dy, Tensor& dqkv);

// y(N, T, C) = wte[tokens(N, T)] + wpe[t]; backward accumulates into dwte and dwpe. wte holds
// the vocabulary's rows from `vocab_begin` (all of them by default): a token outside them
// contributes zeros (a tensor-parallel slice). `positions` false leaves wpe out of forward.
void embedding_forward(const Tensor& tokens, const Tensor& wte, const Tensor& wpe, Tensor& y,
                       int64_t vocab_begin = 0, bool positions = true);
void embedding_backward(const Tensor& tokens, const Tensor& dy, Tensor& dwte, Tensor& dwpe,
                        int64_t vocab_begin = 0);

// Loss over logits(N, C) and labels(N), added into `totals` (on the logits' device); dlogits
// (may be undefined) scaled by grad_scale.
void cross_entropy(const Tensor& logits, const Tensor& labels, float grad_scale, Tensor& dlogits,
                   LossTotals& totals);
void mse(const Tensor& logits, const Tensor& labels, float grad_scale, Tensor& dlogits,
         LossTotals& totals);
// Cross-entropy over a vocabulary split between ranks (tensor parallelism): logits(N, C) are
// columns [begin, begin + C) of it. Three passes, the group reducing between them: row_max and
// target (N) f32 get the slice's max and the label's logit (0 where another rank holds it),
// to be all-reduced by max and by sum; sum_exp (N) f32 gets Σ exp(x - row_max), to be summed;
// then the loss (added into totals) and dlogits (nullable) = (softmax - onehot) x grad_scale of
// the slice.
void split_ce_max_target(const Tensor& logits, const Tensor& labels, int64_t begin, Tensor& row_max,
                         Tensor& target);
void split_ce_sum_exp(const Tensor& logits, const Tensor& row_max, Tensor& sum_exp);
void split_ce_loss(const Tensor& logits, const Tensor& labels, int64_t begin, const Tensor& row_max,
                   const Tensor& sum_exp, const Tensor& target, float grad_scale, Tensor& dlogits,
                   LossTotals& totals);

// dst(n, ...) = src(idx[i], ...): rows of src picked by idx(n) (i32, on src's device).
void gather_rows(const Tensor& src, const Tensor& idx, Tensor& dst);

double sum_squares(const Tensor& x);
// x *= *alpha, the factor where x is (on a GPU, device memory), read when the pass runs.
void scale_by(Tensor& x, const float* alpha);

// A training step's update decision (cpu::UpdateDecision) from its gradients (f32) and its loss
// totals, written into `decision`: i32 words of an UpdateDecision, where the gradients are.
// Nothing waits for the device.
void decide_update(const Tensor& grads, const LossTotals& totals, double unscale, double max_norm,
                   Tensor& decision);

}  // namespace trainer::ops
