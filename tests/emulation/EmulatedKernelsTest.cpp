// The CUDA backend's kernel files run on the host (tests/emulation/emulated_backend.h), each op
// against its CPU twin with the bounds the GPU tests use: what GpuOpsTest checks on a device,
// here in CI, which has none. The files run as they are, launches and all, so a wrong index,
// mask, tile bound, reduction or barrier shows here as it would on the GPU; the hardware's own
// rounding (expf, the tensor cores) does not. The ops that call cuBLAS, cuDNN or CUB are not
// here (the unfused attention's products run on a host GEMM); GpuOpsTest covers them on a GPU.
#include "tests/emulation/emulated_backend.h"
// The backend first: it must precede every other include.

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <functional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "core/cpu/cast.h"
#include "core/cpu/conv.h"
#include "core/cpu/elementwise.h"
#include "core/cpu/gather.h"
#include "core/cpu/linear.h"
#include "core/cpu/loss.h"
#include "core/cpu/norm.h"
#include "core/cpu/optim.h"
#include "core/cpu/pool.h"
#include "core/ops.h"
#include "tests/test_support.h"

namespace trainer {
namespace {

namespace gpu = ::emulated::trainer::cuda;
using Floats = std::vector<float>;

Floats uniform(int64_t n, uint64_t seed, float lo = -1.0f, float hi = 1.0f) {
  const Tensor t = test::random_tensor({n}, seed, lo, hi);
  return Floats(t.f32(), t.f32() + n);
}

std::vector<int32_t> labels(int64_t n, int32_t classes, uint64_t seed) {
  const Floats u = uniform(n, seed, 0.0f, static_cast<float>(classes));
  std::vector<int32_t> out;
  for (const float v : u) out.push_back(std::min(classes - 1, static_cast<int32_t>(v)));
  return out;
}

// 16-bit bits of v (bf16 or fp16), and their values widened back: what the CPU twin computes on.
std::vector<uint16_t> narrow(const Floats& v, bool bf16) {
  std::vector<uint16_t> out(v.size());
  (bf16 ? cpu::f32_to_bf16 : cpu::f32_to_f16)(static_cast<int64_t>(v.size()), v.data(), out.data());
  return out;
}
Floats widen(const std::vector<uint16_t>& v, bool bf16) {
  Floats out(v.size());
  (bf16 ? cpu::bf16_to_f32 : cpu::f16_to_f32)(static_cast<int64_t>(v.size()), v.data(), out.data());
  return out;
}

// v rounded to 16 bits: the bits a 16-bit kernel reads, and their values as floats, which its
// CPU twin computes on.
struct Rounded {
  std::vector<uint16_t> bits;
  Floats f;
};
Rounded rounded(const Floats& v, bool bf16) {
  std::vector<uint16_t> bits = narrow(v, bf16);
  Floats f = widen(bits, bf16);
  return {std::move(bits), std::move(f)};
}

double rms(const Floats& v) {
  double s = 0.0;
  for (const float x : v) s += double{x} * x;
  return std::sqrt(s / static_cast<double>(v.size()));
}

std::string precision(bool bf16) { return bf16 ? "bf16" : "fp16"; }

// Layer norm: a warp per row forward and for dx, column sums for dw and db, which accumulate.
TEST(EmulatedKernelsTest, LayerNormMatchesTheCpu) {
  const int64_t R = 37,
                C = 129;  // more rows than a block's warps; a row longer than a warp's lanes
  const Floats x = uniform(R * C, 1), w = uniform(C, 2), b = uniform(C, 3), dy = uniform(R * C, 4);
  Floats y(R * C), mean(R), rstd(R), dx(R * C), dw = uniform(C, 5), db = uniform(C, 6);
  Floats gy = y, gmean = mean, grstd = rstd, gdx = dx, gdw = dw, gdb = db;
  cpu::layer_norm_forward(R, C, x.data(), w.data(), b.data(), y.data(), mean.data(), rstd.data());
  gpu::layer_norm_forward(R, C, x.data(), w.data(), b.data(), gy.data(), gmean.data(),
                          grstd.data());
  test::expect_close(gy, y, 1e-5, 1e-5);
  test::expect_close(gmean, mean, 1e-6, 1e-6);
  test::expect_close(grstd, rstd, 1e-6, 1e-5);
  cpu::layer_norm_backward(R, C, x.data(), w.data(), mean.data(), rstd.data(), dy.data(), dx.data(),
                           dw.data(), db.data());
  gpu::layer_norm_backward(R, C, x.data(), w.data(), mean.data(), rstd.data(), dy.data(),
                           gdx.data(), gdw.data(), gdb.data());
  test::expect_close(gdx, dx, 1e-5, 1e-4);
  test::expect_close(gdw, dw, 1e-5, 1e-5);
  test::expect_close(gdb, db, 1e-5, 1e-5);

  for (const bool bf16 : {false, true}) {
    SCOPED_TRACE(precision(bf16));
    const Rounded x16 = rounded(x, bf16), w16 = rounded(w, bf16), b16 = rounded(b, bf16),
                  dy16 = rounded(dy, bf16);
    std::vector<uint16_t> y16(R * C), dx16(R * C);
    Floats m16(R), r16(R), dw16 = dw, db16 = db, dwf = dw, dbf = db;
    cpu::layer_norm_forward(R, C, x16.f.data(), w16.f.data(), b16.f.data(), y.data(), mean.data(),
                            rstd.data());
    gpu::layer_norm_forward_16(bf16, R, C, x16.bits.data(), w16.bits.data(), b16.bits.data(),
                               y16.data(), m16.data(), r16.data());
    test::expect_close(widen(y16, bf16), y, bf16 ? 1e-2 : 2e-3, bf16 ? 1e-2 : 2e-3);
    test::expect_close(m16, mean, 1e-6, 1e-6);
    cpu::layer_norm_backward(R, C, x16.f.data(), w16.f.data(), mean.data(), rstd.data(),
                             dy16.f.data(), dx.data(), dwf.data(), dbf.data());
    gpu::layer_norm_backward_16(bf16, R, C, x16.bits.data(), w16.bits.data(), m16.data(),
                                r16.data(), dy16.bits.data(), dx16.data(), dw16.data(),
                                db16.data());
    test::expect_close(widen(dx16, bf16), dx, bf16 ? 2e-2 : 4e-3, bf16 ? 1e-2 : 2e-3);
    test::expect_close(dw16, dwf, 1e-4, 1e-5);
    test::expect_close(db16, dbf, 1e-4, 1e-5);
  }
}

// The losses: one thread per row (a classifier's few classes), a block per row (a vocabulary),
// in 16 bits, and the vocabulary-parallel cross-entropy's three passes; the totals add. The
// cross-entropy's rows end in padding, -inf as the head makes it: its gradient is exactly 0.
TEST(EmulatedKernelsTest, LossesMatchTheCpu) {
  for (const int64_t C : {int64_t{10}, int64_t{1500}}) {
    SCOPED_TRACE("C " + std::to_string(C));
    const int64_t N = 9, pad = C / 10;
    const Floats logits = uniform(N * C, 10, -4.0f, 4.0f);
    Floats padded = logits;
    for (int64_t n = 0; n < N; ++n) std::fill_n(padded.begin() + (n + 1) * C - pad, pad, -INFINITY);
    const auto expect_padding_zero = [&](const Floats& grad) {
      for (int64_t n = 0; n < N; ++n)
        for (int64_t c = C - pad; c < C; ++c) ASSERT_EQ(grad[n * C + c], 0.0f) << n << " " << c;
    };
    const std::vector<int32_t> y = labels(N, static_cast<int32_t>(C - pad), 11);
    Floats d(N * C), gd(N * C);
    double totals[2] = {1.0, 2.0}, gtotals[2] = {1.0, 2.0};
    cpu::softmax_cross_entropy(N, C, padded.data(), y.data(), 0.5f, d.data(), totals);
    gpu::softmax_cross_entropy(N, C, padded.data(), y.data(), 0.5f, gd.data(), gtotals);
    test::expect_close(gd, d, 1e-7, 1e-5);
    EXPECT_NEAR(gtotals[0], totals[0], 1e-9 * N);
    EXPECT_EQ(gtotals[1], totals[1]);
    expect_padding_zero(gd);
    if (C < 1024) {
      cpu::mse_onehot(N, C, logits.data(), y.data(), 0.5f, d.data(), totals);
      gpu::mse_onehot(N, C, logits.data(), y.data(), 0.5f, gd.data(), gtotals);
      test::expect_close(gd, d, 1e-7, 1e-6);
      EXPECT_NEAR(gtotals[0], totals[0], 1e-9 * N);
      continue;
    }
    for (const bool bf16 : {false, true}) {
      SCOPED_TRACE(precision(bf16));
      const auto l16 = narrow(padded, bf16);
      const Floats lf = widen(l16, bf16);
      std::vector<uint16_t> d16(N * C);
      double t16[2] = {0.0, 0.0}, tf[2] = {0.0, 0.0};
      cpu::softmax_cross_entropy(N, C, lf.data(), y.data(), 0.5f, d.data(), tf);
      gpu::softmax_cross_entropy_16(bf16, N, C, l16.data(), y.data(), 0.5f, d16.data(), t16);
      test::expect_close(widen(d16, bf16), d, 1e-6, bf16 ? 1e-2 : 2e-3);
      EXPECT_NEAR(t16[0], tf[0], 1e-6 * N);
      EXPECT_EQ(t16[1], tf[1]);
      expect_padding_zero(widen(d16, bf16));
    }
    // The last rank's slice of the vocabulary: columns [300, 300 + C) of a larger one.
    const int64_t begin = 300;
    Floats mx(N), target(N), sum(N), gmx(N), gtarget(N), gsum(N);
    cpu::split_ce_max_target(N, C, padded.data(), y.data(), begin, mx.data(), target.data());
    gpu::split_ce_max_target(N, C, padded.data(), y.data(), begin, gmx.data(), gtarget.data());
    EXPECT_EQ(gmx, mx);
    EXPECT_EQ(gtarget, target);
    cpu::split_ce_sum_exp(N, C, padded.data(), mx.data(), sum.data());
    gpu::split_ce_sum_exp(N, C, padded.data(), mx.data(), gsum.data());
    test::expect_close(gsum, sum, 0.0, 1e-6);
    cpu::split_ce_loss(N, C, padded.data(), y.data(), begin, mx.data(), sum.data(), target.data(),
                       0.5f, d.data(), totals);
    gpu::split_ce_loss(N, C, padded.data(), y.data(), begin, mx.data(), sum.data(), target.data(),
                       0.5f, gd.data(), gtotals);
    test::expect_close(gd, d, 1e-7, 1e-5);
    EXPECT_NEAR(gtotals[0], totals[0], 1e-9 * N);
    EXPECT_EQ(gtotals[1], totals[1]);
    expect_padding_zero(gd);
  }
}

// The step's update decision from 5,000 gradients (20 blocks' partial sums, added in order):
// the norm, the clip and the scale off as on the CPU; a non-finite gradient or loss skips. Then
// the passes that apply the factors, read from memory.
TEST(EmulatedKernelsTest, UpdateDecisionMatchesTheCpu) {
  Floats g = uniform(5000, 70, -0.5f, 0.5f);
  for (const double loss : {2.5, double{NAN}}) {
    for (const bool inf : {false, true}) {
      SCOPED_TRACE(std::to_string(loss) + (inf ? " inf gradient" : ""));
      g[1234] = inf ? INFINITY : 0.25f;
      const double sums[2] = {loss, 3.0};
      cpu::UpdateDecision want, got;
      cpu::decide_update(5000, g.data(), sums, 0.5, 1.0, &want);
      gpu::decide_update(5000, g.data(), sums, 0.5, 1.0, &got);
      EXPECT_EQ(got.skip, want.skip);
      EXPECT_EQ(got.skip, std::isnan(loss) || inf ? 1 : 0);
      EXPECT_EQ(got.loss_finite, want.loss_finite);
      if (want.skip) continue;
      EXPECT_EQ(got.loss_sums[0], 2.5);  // carried for the one read-back
      EXPECT_EQ(got.loss_sums[1], 3.0);
      EXPECT_NEAR(got.sq, want.sq, 1e-12 * want.sq);
      EXPECT_NEAR(got.grad_norm, want.grad_norm, 1e-12 * want.grad_norm);
      EXPECT_LT(want.clip, 1.0f);
      EXPECT_NEAR(got.clip, want.clip, 1e-6);
      EXPECT_EQ(got.unscale, 0.5f);
      Floats scaled = g, gscaled = g;
      cpu::scale_by(5000, &want.clip, scaled.data());
      gpu::scale_by(5000, &want.clip, gscaled.data());
      EXPECT_EQ(gscaled, scaled);
    }
  }
}

// Activations, the residual add, column sums, dropout, the squared norm, scaling, filling.
TEST(EmulatedKernelsTest, ElementwiseOpsMatchTheCpu) {
  const int64_t n = 3000;
  const Floats x = uniform(n, 20, -3.0f, 3.0f), dy = uniform(n, 21);
  Floats y(n), gy(n), dx(n), gdx(n);
  for (const cpu::Activation f :
       {cpu::Activation::ReLU, cpu::Activation::GELU, cpu::Activation::GELUTanh,
        cpu::Activation::Tanh, cpu::Activation::Sigmoid}) {
    SCOPED_TRACE(static_cast<int>(f));
    cpu::activation_forward(f, n, x.data(), y.data());
    gpu::activation_forward(f, n, x.data(), gy.data());
    test::expect_close(gy, y, 1e-6, 1e-5);
    cpu::activation_backward(f, n, f == cpu::Activation::ReLU ? x.data() : y.data(), dy.data(),
                             dx.data());
    gpu::activation_backward(f, n, f == cpu::Activation::ReLU ? x.data() : y.data(), dy.data(),
                             gdx.data());
    test::expect_close(gdx, dx, 1e-6, 1e-5);
    for (const bool bf16 : {false, true}) {
      SCOPED_TRACE(precision(bf16));
      const auto x16 = narrow(x, bf16);
      std::vector<uint16_t> y16(n);
      cpu::activation_forward(f, n, widen(x16, bf16).data(), y.data());
      gpu::activation_forward_16(bf16, f, n, x16.data(), y16.data());
      test::expect_close(widen(y16, bf16), y, 1e-6, bf16 ? 1e-2 : 2e-3);
    }
  }
  cpu::add(n, x.data(), dy.data(), y.data());
  gpu::add(n, x.data(), dy.data(), gy.data());
  EXPECT_EQ(gy, y);
  for (const bool bf16 : {false, true}) {
    const auto a = narrow(x, bf16), b = narrow(dy, bf16);
    std::vector<uint16_t> s(n);
    gpu::add_16(bf16, n, a.data(), b.data(), s.data());
    cpu::add(n, widen(a, bf16).data(), widen(b, bf16).data(), y.data());
    EXPECT_EQ(widen(s, bf16), widen(narrow(y, bf16), bf16)) << precision(bf16);
  }
  // Column sums: 300 rows of 70 columns (three column tiles, the rows cut into pieces whose sums
  // a second pass adds: the layer norm test's 37 rows are one piece).
  const int64_t rows = 300, cols = 70;
  ASSERT_GT(gpu::column_row_splits(rows, cols), 1);
  const Floats m = uniform(rows * cols, 22);
  Floats db(cols), gdb(cols);
  cpu::sum_rows(rows, cols, m.data(), db.data());
  gpu::sum_rows(rows, cols, m.data(), gdb.data());
  test::expect_close(gdb, db, 1e-5, 1e-5);
  // Channel sums of (N, C, P) planes (a convolution's bias gradient), in one piece and in three.
  for (const auto& [pn, pc, pp] : {std::array<int64_t, 3>{2, 4, 100}, {5, 3, 700}}) {
    const Floats planes = uniform(pn * pc * pp, 23);
    std::vector<double> sums(static_cast<size_t>(pc), 0.5);
    for (int64_t i = 0; i < pn * pc * pp; ++i) sums[(i / pp) % pc] += planes[i];
    Floats got(pc, 0.5f);
    gpu::plane_sums<gpu::F32Elem>(pn, pc, pp, planes.data(), got.data());
    test::expect_close(got, Floats(sums.begin(), sums.end()), 1e-5, 1e-5);
  }

  const cpu::DropoutMask mask{12345, 3, 0.25f};
  Floats dropped(n), gdropped(n);
  cpu::dropout(6, n / 6, mask, x.data(), dropped.data());
  gpu::dropout(6, n / 6, mask, x.data(), gdropped.data());
  EXPECT_EQ(gdropped, dropped);

  EXPECT_NEAR(gpu::sum_squares(n, x.data()), cpu::sum_squares(n, x.data()), 1e-9);
  Floats s = x, gs = x;
  const float factor = 0.3f;
  cpu::scale_by(n, &factor, s.data());
  gpu::scale_by(n, &factor, gs.data());
  EXPECT_EQ(gs, s);
  gpu::fill(n, 2.5f, gs.data());
  EXPECT_EQ(gs, Floats(n, 2.5f));
}

// The fused updates over a group of parameters against the CPU's update of each: 50 tensors (two
// launches of up to 48), one of them large enough for several blocks, one empty.
TEST(EmulatedKernelsTest, OptimizerUpdatesMatchTheCpu) {
  std::vector<int64_t> sizes = {5, 3000, 1, 0};
  for (int64_t i = 0; i < 46; ++i) sizes.push_back(1 + i * 7);
  for (const bool adam : {false, true}) {
    SCOPED_TRACE(adam ? "adam" : "sgd");
    std::vector<Floats> w, g, s1, s2;
    for (size_t i = 0; i < sizes.size(); ++i) {
      w.push_back(uniform(sizes[i], 30 + i));
      g.push_back(uniform(sizes[i], 40 + i));
      s1.push_back(uniform(sizes[i], 50 + i, 0.0f, 0.1f));
      s2.push_back(uniform(sizes[i], 60 + i, 0.0f, 0.1f));
    }
    std::vector<Floats> gw = w, gs1 = s1, gs2 = s2;
    gpu::ParamGroup p;
    for (size_t i = 0; i < sizes.size(); ++i) {
      p.n.push_back(sizes[i]);
      p.w.push_back(gw[i].data());
      p.g.push_back(g[i].data());
      p.state1.push_back(gs1[i].data());
      p.state2.push_back(gs2[i].data());
    }
    const cpu::AdamArgs a{1e-2f, 0.9f, 0.95f, 1e-8f, 0.1f, true, 3};
    const cpu::AdamConstants k = cpu::adam_constants(a);
    const cpu::SgdArgs sgd{1e-2f, 0.9f, 1e-4f, true, false};
    // A skipped update (the step's decision) changes nothing; then the update itself.
    for (const int32_t skip : {1, 0}) {
      if (adam)
        gpu::adam_update(p, &k, &skip);
      else
        gpu::sgd_update(p, &sgd, &skip);
      if (skip) {
        EXPECT_EQ(gw, w);
        EXPECT_EQ(gs1, s1);
      }
    }
    for (size_t i = 0; i < sizes.size(); ++i) {
      if (adam)
        cpu::adam_update(sizes[i], w[i].data(), g[i].data(), s1[i].data(), s2[i].data(), a);
      else
        cpu::sgd_update(sizes[i], w[i].data(), g[i].data(), s1[i].data(), sgd);
      test::expect_close(gw[i], w[i], 1e-7, 1e-6);
      test::expect_close(gs1[i], s1[i], 1e-7, 1e-6);
      if (adam) test::expect_close(gs2[i], s2[i], 1e-7, 1e-6);
    }
  }
}

// Max-pooling, overlapping windows (3 wide, stride 2): the same maxima, where they are, and the
// backward's gathers in the CPU's scatter order, exactly; also in 16 bits.
TEST(EmulatedKernelsTest, MaxPoolIsExact) {
  const cpu::PoolGeometry g{9, 7, 3, 2, 4, 3};
  const int64_t planes = 5, in = planes * g.H * g.W, out = planes * g.OH * g.OW;
  const Floats x = uniform(in, 70), dy = uniform(out, 71);
  Floats y(out), gy(out), dx(in), gdx(in);
  std::vector<int32_t> arg(out), garg(out);
  cpu::maxpool_forward(g, planes, x.data(), y.data(), arg.data());
  gpu::maxpool_forward(g, planes, x.data(), gy.data(), garg.data());
  EXPECT_EQ(gy, y);
  EXPECT_EQ(garg, arg);
  cpu::maxpool_backward(g, planes, dy.data(), arg.data(), dx.data());
  gpu::maxpool_backward(g, planes, dy.data(), arg.data(), gdx.data());
  EXPECT_EQ(gdx, dx);
  for (const bool bf16 : {false, true}) {
    SCOPED_TRACE(precision(bf16));
    const auto x16 = narrow(x, bf16), dy16 = narrow(dy, bf16);
    std::vector<uint16_t> y16(out), dx16(in);
    cpu::maxpool_forward(g, planes, widen(x16, bf16).data(), y.data(), arg.data());
    gpu::maxpool_forward_16(bf16, g, planes, x16.data(), y16.data(), garg.data());
    EXPECT_EQ(widen(y16, bf16), y);
    EXPECT_EQ(garg, arg);
    cpu::maxpool_backward(g, planes, widen(dy16, bf16).data(), arg.data(), dx.data());
    gpu::maxpool_backward_16(bf16, g, planes, dy16.data(), arg.data(), dx16.data());
    EXPECT_EQ(widen(dx16, bf16), widen(narrow(dx, bf16), bf16));
  }
}

// Casts and the row gather only move bits: exact.
TEST(EmulatedKernelsTest, CastsAndGathersAreExact) {
  const int64_t n = 1000;
  const Floats x = uniform(n, 80, -70000.0f, 70000.0f);  // past fp16's range too
  for (const bool bf16 : {false, true}) {
    std::vector<uint16_t> h(n), gh(n);
    Floats f(n), gf(n);
    (bf16 ? cpu::f32_to_bf16 : cpu::f32_to_f16)(n, x.data(), h.data());
    (bf16 ? gpu::f32_to_bf16 : gpu::f32_to_f16)(n, x.data(), gh.data());
    EXPECT_EQ(gh, h) << precision(bf16);
    (bf16 ? cpu::bf16_to_f32 : cpu::f16_to_f32)(n, h.data(), f.data());
    (bf16 ? gpu::bf16_to_f32 : gpu::f16_to_f32)(n, h.data(), gf.data());
    EXPECT_EQ(gf, f) << precision(bf16);
  }
  const int64_t rows = 7, words = 3;
  std::vector<uint32_t> src(10 * words), dst(rows * words), gdst(rows * words);
  for (size_t i = 0; i < src.size(); ++i) src[i] = static_cast<uint32_t>(i * 2654435761u);
  const std::vector<int32_t> idx = {9, 0, 3, 3, 7, 1, 8};
  cpu::gather_rows(rows, words, idx.data(), src.data(), dst.data());
  gpu::gather_rows(rows, words, idx.data(), src.data(), gdst.data());
  EXPECT_EQ(gdst, dst);
}

// The embedding: rows of wte and wpe forward; backward's sort of positions by token, its runs,
// and one block per distinct token adding its rows in position order, so dwte agrees exactly;
// tokens outside a tensor-parallel slice of the vocabulary add nothing.
TEST(EmulatedKernelsTest, EmbeddingMatchesTheCpu) {
  const int64_t N = 3, T = 5, C = 70, V = 12;
  const std::vector<int32_t> tokens = {4, 1, 4, 11, 0, 7, 4, 4, 2, 1, 9, 9, 3, 4, 0};
  const Floats wte = uniform(V * C, 90), wpe = uniform(T * C, 91), dy = uniform(N * T * C, 92);
  for (const cpu::VocabRows vocab : {cpu::VocabRows{0, V}, cpu::VocabRows{2, 8}}) {
    SCOPED_TRACE("rows from " + std::to_string(vocab.begin));
    const float* slice = wte.data() + vocab.begin * C;
    Floats y(N * T * C), gy(N * T * C);
    cpu::embedding_forward(N, T, C, tokens.data(), slice, vocab, wpe.data(), y.data());
    gpu::embedding_forward(N, T, C, tokens.data(), slice, vocab, wpe.data(), gy.data());
    EXPECT_EQ(gy, y);
    Floats dwte = uniform(vocab.rows * C, 93), dwpe = uniform(T * C, 94);
    Floats gdwte = dwte, gdwpe = dwpe;
    cpu::embedding_backward(N, T, C, tokens.data(), dy.data(), dwte.data(), vocab, dwpe.data());
    gpu::embedding_backward(N, T, C, tokens.data(), dy.data(), gdwte.data(), vocab, gdwpe.data());
    EXPECT_EQ(gdwte, dwte);
    test::expect_close(gdwpe, dwpe, 1e-6, 1e-6);
  }
}

struct Shape4 {
  int64_t N, T, H, D;
};

// The fused attention kernels (flash_attention.cu's host code and launches too) against the CPU
// twin on the same 16-bit values, with GpuOpsTest.SixteenBitAttentionMatchesTheCpu's bounds:
// head dimensions 32, 64 and 128, the last tile of queries and keys cut short (100, 200, 72
// positions: 36, 8 and 8 rows of 64), two sequences, three heads.
TEST(EmulatedKernelsTest, FlashAttentionMatchesTheCpu) {
  for (const Shape4 s : {Shape4{2, 100, 2, 64}, Shape4{1, 200, 3, 32}, Shape4{1, 72, 1, 128}})
    for (const DType t : {DType::F16, DType::BF16}) {
      const int64_t C = s.H * s.D;
      const bool bf16 = t == DType::BF16;
      SCOPED_TRACE(precision(bf16) + " T " + std::to_string(s.T) + " D " + std::to_string(s.D));
      const Tensor qkv = ops::cast(test::random_tensor({s.N, s.T, 3 * C}, 60), t),
                   dy = ops::cast(test::random_tensor({s.N, s.T, C}, 61), t);
      Tensor y = Tensor::empty({s.N, s.T, C}, t), stats = Tensor::empty({s.N, s.H, s.T, 2}),
             dqkv = Tensor::empty(qkv.shape(), t);
      ops::attention_forward(s.H, qkv, y, stats);
      ops::attention_backward(s.H, qkv, y, stats, dy, dqkv);

      Tensor fy = Tensor::empty(y.shape(), t), fstats = Tensor::empty(stats.shape()),
             fdqkv = Tensor::empty(qkv.shape(), t);
      ASSERT_TRUE(
          gpu::flash_attention_fits(s.N, s.H, s.D, {qkv.raw(), fy.raw(), dy.raw(), fdqkv.raw()}));
      gpu::flash_attention_forward(bf16, s.N, s.T, s.H, s.D, qkv.raw(), fy.raw(), fstats.f32());
      gpu::flash_attention_backward(bf16, s.N, s.T, s.H, s.D, qkv.raw(), fy.raw(), fstats.f32(),
                                    dy.raw(), fdqkv.raw());

      auto values = [](const Tensor& v) {
        const Tensor f = ops::cast(v, DType::F32);
        return Floats(f.f32(), f.f32() + f.numel());
      };
      test::expect_close(values(fstats), values(stats), 1e-5, 1e-4);
      const Floats want_y = values(y), want_d = values(dqkv);
      test::expect_close(values(fy), want_y, 3e-2 * rms(want_y), 3e-2);
      test::expect_close(values(fdqkv), want_d, 3e-2 * rms(want_d), 3e-2);
    }
}

// The unfused attention (heads of 8: no flash kernel; fp32 too) through attention.cu's softmax
// kernels and its products on the host GEMM: forward, and backward's dot from dy and y.
TEST(EmulatedKernelsTest, UnfusedAttentionMatchesTheCpu) {
  const int64_t N = 2, T = 40, H = 2, D = 8, C = H * D;
  for (const DType t : {DType::F32, DType::F16, DType::BF16}) {
    SCOPED_TRACE(static_cast<int>(t));
    const Tensor qkv = ops::cast(test::random_tensor({N, T, 3 * C}, 62), t),
                 dy = ops::cast(test::random_tensor({N, T, C}, 63), t);
    Tensor y = Tensor::empty({N, T, C}, t), stats = Tensor::empty({N, H, T, 2}),
           dqkv = Tensor::empty(qkv.shape(), t);
    ops::attention_forward(H, qkv, y, stats);
    ops::attention_backward(H, qkv, y, stats, dy, dqkv);
    Tensor gy = Tensor::empty(y.shape(), t), gstats = Tensor::empty(stats.shape()),
           gdqkv = Tensor::empty(qkv.shape(), t);
    if (t == DType::F32) {
      gpu::attention_forward(N, T, H, D, qkv.f32(), gy.f32(), gstats.f32());
      gpu::attention_backward(N, T, H, D, qkv.f32(), gy.f32(), gstats.f32(), dy.f32(), gdqkv.f32());
    } else {
      const bool bf16 = t == DType::BF16;
      ASSERT_FALSE(gpu::flash_attention_fits(N, H, D, {qkv.raw(), gy.raw()}));
      gpu::attention_forward_16(bf16, N, T, H, D, qkv.raw(), gy.raw(), gstats.f32());
      gpu::attention_backward_16(bf16, N, T, H, D, qkv.raw(), gy.raw(), gstats.f32(), dy.raw(),
                                 gdqkv.raw());
    }
    const double tol = t == DType::F32 ? 1e-5 : 3e-2;
    auto values = [](const Tensor& v) {
      const Tensor f = ops::cast(v, DType::F32);
      return Floats(f.f32(), f.f32() + f.numel());
    };
    test::expect_close(values(gstats), values(stats), 1e-5, 1e-4);
    test::expect_close(values(gy), values(y), tol * rms(values(y)), tol);
    test::expect_close(values(gdqkv), values(dqkv), tol * rms(values(dqkv)), tol);
  }
}

// linear.cu on the cuBLAS stand-ins: cuBLASLt's matmul with its bias epilogue where the
// heuristic has an algorithm, cublasGemmEx after a bias broadcast where it has none (16-bit rows
// of 20 elements, not a multiple of 8) or where the test forces it; backward's two GEMMs and
// the bias's column sums, which accumulate into dw and db.
TEST(EmulatedKernelsTest, LinearMatchesTheCpu) {
  const int64_t N = 33, out = 40;
  for (const int64_t in : {int64_t{24}, int64_t{20}})
    for (const bool forced : {false, true})
      for (const bool bias : {true, false}) {
        SCOPED_TRACE("in " + std::to_string(in) + (forced ? ", forced fallback" : "") +
                     (bias ? ", bias" : ""));
        gpu::force_gemm_fallback(forced);
        const Floats x = uniform(N * in, 20), w = uniform(out * in, 21), b = uniform(out, 22),
                     dy = uniform(N * out, 23), dw0 = uniform(out * in, 24), db0 = uniform(out, 25);
        // The path a forward took: 1 when cuBLASLt ran it, 0 when cublasGemmEx did.
        auto through_lt = [](const std::function<void()>& forward) {
          const int lt = emulated::blas::lt_matmuls, ex = emulated::blas::gemm_exs;
          forward();
          EXPECT_EQ(emulated::blas::lt_matmuls - lt + emulated::blas::gemm_exs - ex, 1);
          return emulated::blas::lt_matmuls - lt;
        };

        Floats y(N * out), gy(N * out), dx(N * in), gdx(N * in), dw = dw0, gdw = dw0, db = db0,
                                                                 gdb = db0;
        cpu::linear_forward(N, in, out, x.data(), w.data(), bias ? b.data() : nullptr, y.data());
        EXPECT_EQ(through_lt([&] {
                    gpu::linear_forward(N, in, out, x.data(), w.data(), bias ? b.data() : nullptr,
                                        gy.data());
                  }),
                  forced ? 0 : 1);
        test::expect_close(gy, y, 1e-5, 1e-5);
        cpu::linear_backward(N, in, out, x.data(), w.data(), dy.data(), dx.data(), dw.data(),
                             bias ? db.data() : nullptr);
        gpu::linear_backward(N, in, out, x.data(), w.data(), dy.data(), gdx.data(), gdw.data(),
                             bias ? gdb.data() : nullptr);
        test::expect_close(gdx, dx, 1e-5, 1e-5);
        test::expect_close(gdw, dw, 1e-5, 1e-5);
        test::expect_close(gdb, db, 1e-5, 1e-5);

        for (const bool bf16 : {false, true}) {
          SCOPED_TRACE(precision(bf16));
          const Rounded x16 = rounded(x, bf16), w16 = rounded(w, bf16), b16 = rounded(b, bf16),
                        dy16 = rounded(dy, bf16);
          std::vector<uint16_t> gy16(N * out), gdx16(N * in);
          cpu::linear_forward(N, in, out, x16.f.data(), w16.f.data(), bias ? b16.f.data() : nullptr,
                              y.data());
          EXPECT_EQ(through_lt([&] {
                      gpu::linear_forward_16(bf16, N, in, out, x16.bits.data(), w16.bits.data(),
                                             bias ? b16.bits.data() : nullptr, gy16.data());
                    }),
                    forced || in % 8 != 0 ? 0 : 1);
          // One rounding to 16 bits apart (the sums' order differs from the CPU's BLAS).
          test::expect_close(widen(gy16, bf16), y, 1e-2 * rms(y), 1e-2);
          dw = gdw = dw0;
          db = gdb = db0;
          cpu::linear_backward(N, in, out, x16.f.data(), w16.f.data(), dy16.f.data(), dx.data(),
                               dw.data(), bias ? db.data() : nullptr);
          gpu::linear_backward_16(bf16, N, in, out, x16.bits.data(), w16.bits.data(),
                                  dy16.bits.data(), gdx16.data(), gdw.data(),
                                  bias ? gdb.data() : nullptr);
          test::expect_close(widen(gdx16, bf16), dx, 1e-2 * rms(dx), 1e-2);
          test::expect_close(gdw, dw, 1e-5, 1e-5);
          test::expect_close(gdb, db, 1e-5, 1e-5);
        }
      }
  gpu::force_gemm_fallback(false);
}

// conv.cu on the cuDNN stand-ins: the algorithms it picks from cuDNN's search, then its
// forward (convolution, bias added), the weight and input gradients and the bias gradient, in
// fp32 against the CPU's im2col, and in fp16 and bf16 (16-bit weight gradient widened into the
// float master, the bias gradient from plane sums) against the CPU's float arithmetic on the
// same 16-bit values.
TEST(EmulatedKernelsTest, Conv2dMatchesTheCpu) {
  namespace dnn = ::emulated::dnn;
  struct Case {
    int64_t C, H, W, OC, K, stride, pad;
  };
  const int64_t N = 3;
  for (const Case& k :
       {Case{1, 8, 8, 4, 3, 1, 0}, Case{3, 9, 11, 5, 3, 2, 1}, Case{4, 6, 6, 2, 1, 1, 0}}) {
    const int64_t OH = (k.H + 2 * k.pad - k.K) / k.stride + 1,
                  OW = (k.W + 2 * k.pad - k.K) / k.stride + 1;
    const cpu::ConvGeometry g{k.C, k.H, k.W, k.K, k.K, k.stride, k.pad, OH, OW};
    SCOPED_TRACE("C " + std::to_string(k.C) + " K " + std::to_string(k.K));
    const int64_t nx = N * k.C * k.H * k.W, nw = k.OC * k.C * k.K * k.K, ny = N * k.OC * OH * OW;
    const Floats x = uniform(nx, 30), w = uniform(nw, 31), b = uniform(k.OC, 32),
                 dy = uniform(ny, 33), dw0 = uniform(nw, 34), db0 = uniform(k.OC, 35);
    Floats y(ny), gy(ny), dx(nx), gdx(nx), dw = dw0, gdw = dw0, db = db0, gdb = db0;
    cpu::conv2d_forward(g, N, k.OC, x.data(), w.data(), b.data(), y.data());
    gpu::conv2d_forward(g, N, k.OC, x.data(), w.data(), b.data(), gy.data());
    test::expect_close(gy, y, 1e-5, 1e-5);
    cpu::conv2d_backward(g, N, k.OC, x.data(), w.data(), dy.data(), dx.data(), dw.data(),
                         db.data());
    gpu::conv2d_backward(g, N, k.OC, x.data(), w.data(), dy.data(), gdx.data(), gdw.data(),
                         gdb.data());
    test::expect_close(gdx, dx, 1e-5, 1e-5);
    test::expect_close(gdw, dw, 1e-4, 1e-5);
    test::expect_close(gdb, db, 1e-4, 1e-5);
    // The direct algorithms: Winograd and FFT were not clearly faster, the faster ones were not
    // deterministic.
    EXPECT_EQ(dnn::last_forward, CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM);
    EXPECT_EQ(dnn::last_backward_data, CUDNN_CONVOLUTION_BWD_DATA_ALGO_1);
    EXPECT_EQ(dnn::last_backward_filter, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1);
    EXPECT_FALSE(gpu::conv2d_uses_transforms(g, N, k.OC, gpu::ConvType::F32));

    for (const bool bf16 : {false, true}) {
      SCOPED_TRACE(precision(bf16));
      const Rounded x16 = rounded(x, bf16), w16 = rounded(w, bf16), b16 = rounded(b, bf16),
                    dy16 = rounded(dy, bf16);
      std::vector<uint16_t> gy16(ny), gdx16(nx);
      cpu::conv2d_forward(g, N, k.OC, x16.f.data(), w16.f.data(), b16.f.data(), y.data());
      gpu::conv2d_forward_16(bf16, g, N, k.OC, x16.bits.data(), w16.bits.data(), b16.bits.data(),
                             gy16.data());
      // One rounding to 16 bits apart, plus the bias's own (cuDNN adds it to the rounded sum).
      test::expect_close(widen(gy16, bf16), y, 2e-2 * rms(y), 2e-2);
      dw = gdw = dw0;
      db = gdb = db0;
      cpu::conv2d_backward(g, N, k.OC, x16.f.data(), w16.f.data(), dy16.f.data(), dx.data(),
                           dw.data(), db.data());
      gpu::conv2d_backward_16(bf16, g, N, k.OC, x16.bits.data(), w16.bits.data(), dy16.bits.data(),
                              gdx16.data(), gdw.data(), gdb.data());
      test::expect_close(widen(gdx16, bf16), dx, 1e-2 * rms(dx), 1e-2);
      test::expect_close(gdw, dw, 2e-2 * rms(dw), 2e-2);  // the gradient rounded to 16 bits
      test::expect_close(gdb, db, 1e-4, 1e-5);            // float sums of the same dy
    }
  }

  // A transformed algorithm clearly faster than the direct one is taken; a search with no
  // deterministic algorithm is an error that names the pass. (New shapes: plans are per shape.)
  const cpu::ConvGeometry g{2, 5, 5, 3, 3, 1, 1, 5, 5};
  const Floats x = uniform(2 * 25, 36), w = uniform(4 * 2 * 9, 37);
  Floats y(4 * 25);
  dnn::offers.forward[1].time = 0.5f;
  gpu::conv2d_forward(g, 1, 4, x.data(), w.data(), nullptr, y.data());
  EXPECT_EQ(dnn::last_forward, CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED);
  EXPECT_TRUE(gpu::conv2d_uses_transforms(g, 1, 4, gpu::ConvType::F32));
  for (auto& offer : dnn::offers.forward) offer.deterministic = false;
  try {
    gpu::conv2d_forward(g, 1, 3, x.data(), w.data(), nullptr, y.data());
    ADD_FAILURE() << "a search without a deterministic algorithm was used";
  } catch (const DeviceError& e) {
    EXPECT_STREQ(e.what(), "cuDNN has no deterministic forward algorithm for this shape");
  }
  dnn::offers = dnn::Offers{};
}

// The emulation holds launches and wmma calls to what the device demands, so that a kernel the
// host would forgive fails here too: the tests above pass only because their kernels keep these.
void load_tile(const __half* p, unsigned ld) {
  nvcuda::wmma::fragment<nvcuda::wmma::matrix_a, 16, 16, 16, __half, nvcuda::wmma::row_major> f;
  nvcuda::wmma::load_matrix_sync(f, p, ld);
}
void load_tile_in_lane_0(const __half* p, unsigned ld) {
  if (threadIdx.x % 32 == 0) load_tile(p, ld);
}
void idle() {}

std::string launch_error(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

TEST(EmulatedKernelsTest, TheEmulationRefusesWhatTheDeviceWould) {
  alignas(32) static __half tile[32 * 24];
  EXPECT_EQ(launch_error([&] { emu::launch(load_tile, 1, 32, 0, tile, 24u); }), "");
  EXPECT_EQ(launch_error([&] { emu::launch(load_tile, 1, 32, 0, tile + 8, 24u); }),
            "emulated kernel: wmma::load_matrix_sync: pointer not 32-byte aligned");
  EXPECT_EQ(launch_error([&] { emu::launch(load_tile, 1, 32, 0, tile, 20u); }),
            "emulated kernel: wmma::load_matrix_sync: leading dimension 20 is not a multiple of "
            "16 bytes");
  EXPECT_EQ(launch_error([&] { emu::launch(load_tile_in_lane_0, 1, 64, 0, tile, 24u); }),
            "emulated kernel: wmma called by some lanes of warp 0 only (1 calls by its lane 0, 0 "
            "by lane 1)");
  EXPECT_EQ(launch_error([&] { emu::launch(idle, 1, 1025, 0); }),
            "emulated launch refused: a block of 1025 x 1 x 1 threads");
  EXPECT_EQ(launch_error([&] { emu::launch(idle, dim3(1, 65536), 32, 0); }),
            "emulated launch refused: a grid of 1 x 65536 x 1 blocks");
  EXPECT_EQ(launch_error([&] { emu::launch(idle, 1, 32, 64 * 1024); }),
            "emulated launch refused: 65536 bytes of dynamic shared memory where the kernel may "
            "have 49152");
  gpu::allow_shared_memory(idle, 64 * 1024);
  EXPECT_EQ(launch_error([&] { emu::launch(idle, 1, 32, 64 * 1024); }), "");
  EXPECT_EQ(launch_error([&] { emu::launch(idle, 1, 32, 70 * 1024); }),
            "emulated launch refused: 71680 bytes of dynamic shared memory where the kernel may "
            "have 65536");
  EXPECT_EQ(launch_error([&] { gpu::allow_shared_memory(idle, 228 * 1024); }),
            "emulated cudaFuncSetAttribute refused: 233472 bytes of dynamic shared memory, over "
            "232448");
}

}  // namespace
}  // namespace trainer
