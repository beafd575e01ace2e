// Every op of the CUDA backend against its CPU twin, each with its own error bound: every case
// of the op table (tests/op_cases.h) as a layer on each device, then the ops no layer wraps.
//
// Label `gpu`: each test skips where no GPU is visible (CI), and runs on the GPU machine through
// scripts/gpu.sh. The bounds: FP32 kernels that sum in another order (GEMM, convolution) agree to
// about 1e-5 relative; elementwise kernels to a few ulp (erff, tanhf, expf are not the host's);
// the kernels that only move or select values (pooling, masks, scaling) exactly.
#include <gtest/gtest.h>

#include <cmath>

#include "core/cuda/conv.cuh"
#include "core/cuda/linear.cuh"
#include "core/cuda/runtime.cuh"
#include "core/data/loader.h"
#include "core/data/synthetic_dataset.h"
#include "core/model.h"
#include "core/ops.h"
#include "core/optim/adam.h"
#include "core/optim/sgd.h"
#include "tests/op_cases.h"
#include "tests/test_support.h"

namespace trainer {
namespace {

const Device kGpu = Device::cuda(0);

class GpuOpsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device";
    cuda::set_device(0);
  }
};

std::vector<float> host_values(const Tensor& t) {
  const Tensor h = t.to(Device::cpu());
  return std::vector<float>(h.f32(), h.f32() + h.numel());
}

// |gpu - cpu| <= abs + rel * |cpu| elementwise.
void expect_twins(const Tensor& gpu, const Tensor& cpu, double abs, double rel) {
  ASSERT_EQ(gpu.shape(), cpu.shape());
  test::expect_close(host_values(gpu), host_values(cpu), abs, rel);
}

Tensor random(const Shape& s, uint64_t seed) { return test::random_tensor(s, seed); }

// One case's layer alone in a model on `device` (its input gradient wanted, as a later stage's).
std::unique_ptr<Model> case_model(const test::OpCase& c, Device device) {
  const Tensor x = c.input();
  Shape sample(x.shape().begin() + 1, x.shape().end());
  auto model = std::make_unique<Model>(sample, 1, /*first_index=*/1);
  model->add(c.make(model->next_init()));
  if (c.randomize_params)
    for (Param* p : model->params())
      p->value.copy_from(test::random_tensor(p->value.shape(), 4, 0.5f, 1.5f));
  model->to(device);
  return model;
}

class GpuOpTable : public ::testing::TestWithParam<test::OpCase> {
 protected:
  void SetUp() override {
    if (cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device";
    cuda::set_device(0);
  }
};

TEST_P(GpuOpTable, ForwardAndGradientsMatchTheCpu) {
  const test::OpCase& c = GetParam();
  auto cpu = case_model(c, Device::cpu()), gpu = case_model(c, kGpu);
  const Tensor x = c.input();
  ModelStash cs, gs;
  const Tensor y = cpu->forward(x, cs, test::op_context());
  const Tensor gy = gpu->forward(x.to(kGpu), gs, test::op_context());
  expect_twins(gy, y, c.gpu_abs, c.gpu_rel);
  const Tensor dy = test::random_tensor(y.shape(), 99);
  cpu->zero_grad();
  gpu->zero_grad();
  const Tensor dx = cpu->backward(dy, cs);
  const Tensor gdx = gpu->backward(dy.to(kGpu), gs);
  if (x.dtype() == DType::F32) expect_twins(gdx, dx, c.gpu_abs, c.gpu_rel);
  const std::vector<Param*> cp = cpu->params(), gp = gpu->params();
  for (size_t i = 0; i < cp.size(); ++i) {
    SCOPED_TRACE(cp[i]->name);
    expect_twins(gp[i]->grad, cp[i]->grad, c.gpu_abs, c.gpu_rel);
  }
}

INSTANTIATE_TEST_SUITE_P(GpuOpsTest, GpuOpTable, ::testing::ValuesIn(test::op_cases()),
                         [](const auto& info) { return info.param.name; });

TEST_F(GpuOpsTest, TensorsRoundTripAndTheAllocatorReusesBlocks) {
  const Tensor x = random({3, 5, 7}, 1);
  const Tensor g = x.to(kGpu);
  EXPECT_EQ(g.device(), kGpu);
  EXPECT_EQ(host_values(g), host_values(x));
  const cuda::DeviceCacheStats before = cuda::device_cache_stats();
  for (int i = 0; i < 10; ++i) Tensor::empty({1000}, DType::F32, kGpu);
  const cuda::DeviceCacheStats after = cuda::device_cache_stats();
  EXPECT_LE(after.misses - before.misses, 1u);  // one cudaMalloc at most, then reuse
  Tensor z = Tensor::zeros({257}, DType::F32, kGpu);
  EXPECT_EQ(host_values(z), std::vector<float>(257, 0.0f));
  z.fill(2.5f);
  EXPECT_EQ(host_values(z), std::vector<float>(257, 2.5f));
}

// Small uploads from pageable memory are staged at the call and queued: with the stream busy
// (copies wait behind the adding passes), the source is overwritten at once and every tensor
// still gets what the host held at its call, staging blocks in flight never reused early.
TEST_F(GpuOpsTest, UploadsFromPageableMemoryHoldWhatTheHostHadAtTheCall) {
  Tensor busy = Tensor::zeros({int64_t{1} << 26}, DType::F32, kGpu);
  for (int i = 0; i < 20; ++i) ops::add(busy, busy, busy);
  std::vector<Tensor> sent;
  Tensor host = Tensor::empty({1000});
  for (int i = 0; i < 100; ++i) {
    host.fill(static_cast<float>(i));
    sent.push_back(host.view(0, {1 + i * 9}).to(kGpu));
  }
  const Tensor large = random({int64_t{5} << 20}, 30);  // 20 MiB: the driver's path
  const Tensor large_sent = large.to(kGpu);
  host.fill(-1.0f);
  for (int i = 0; i < 100; ++i)
    ASSERT_EQ(host_values(sent[static_cast<size_t>(i)]),
              std::vector<float>(static_cast<size_t>(1 + i * 9), static_cast<float>(i)))
        << i;
  EXPECT_EQ(host_values(large_sent), host_values(large));
}

// Both forward paths: cuBLASLt with the bias in its epilogue, and the one taken where cuBLASLt
// has no algorithm (forced here): cublasGemmEx and a bias kernel.
TEST_F(GpuOpsTest, LinearMatchesTheCpu) {
  for (bool fallback : {false, true})
    for (bool bias : {true, false}) {
      SCOPED_TRACE(std::string(fallback ? "cublasGemmEx" : "cuBLASLt") + (bias ? ", bias" : ""));
      cuda::force_gemm_fallback(fallback);
      const int64_t N = 33, in = 70, out = 19;
      const Tensor x = random({N, in}, 2), w = random({out, in}, 3), dy = random({N, out}, 4);
      const Tensor b = bias ? random({out}, 5) : Tensor();
      Tensor y = Tensor::empty({N, out}), dx = Tensor::empty({N, in});
      Tensor dw = random({out, in}, 6), db = random({out}, 7);  // backward accumulates into these
      Tensor gx = x.to(kGpu), gw = w.to(kGpu), gb = bias ? b.to(kGpu) : Tensor(), gdy = dy.to(kGpu);
      Tensor gy = Tensor::empty({N, out}, DType::F32, kGpu),
             gdx = Tensor::empty({N, in}, DType::F32, kGpu);
      Tensor gdw = dw.to(kGpu), gdb = db.to(kGpu);
      ops::linear_forward(x, w, b, y);
      ops::linear_forward(gx, gw, gb, gy);
      expect_twins(gy, y, 1e-5, 1e-5);
      Tensor no_db_cpu = bias ? db : Tensor(), no_db_gpu = bias ? gdb : Tensor();
      ops::linear_backward(x, w, dy, dx, dw, no_db_cpu);
      ops::linear_backward(gx, gw, gdy, gdx, gdw, no_db_gpu);
      expect_twins(gdx, dx, 1e-5, 1e-5);
      expect_twins(gdw, dw, 1e-5, 1e-5);
      if (bias) expect_twins(gdb, db, 1e-5, 1e-5);
    }
  cuda::force_gemm_fallback(false);
}

TEST_F(GpuOpsTest, Conv2dMatchesTheCpu) {
  struct Case {
    int64_t C, H, W, OC, K, stride, pad;
  };
  for (const Case& k :
       {Case{1, 28, 28, 8, 3, 1, 0}, Case{3, 9, 11, 5, 3, 2, 1}, Case{4, 6, 6, 2, 1, 1, 0}}) {
    const int64_t OH = (k.H + 2 * k.pad - k.K) / k.stride + 1,
                  OW = (k.W + 2 * k.pad - k.K) / k.stride + 1;
    const ops::ConvGeometry g{k.C, k.H, k.W, k.K, k.K, k.stride, k.pad, OH, OW};
    const int64_t N = 5;
    const Tensor x = random({N, k.C, k.H, k.W}, 8), w = random({k.OC, k.C, k.K, k.K}, 9);
    const Tensor b = random({k.OC}, 10), dy = random({N, k.OC, OH, OW}, 11);
    Tensor y = Tensor::empty({N, k.OC, OH, OW}), dx = Tensor::empty(x.shape());
    Tensor dw = random(w.shape(), 12), db = random({k.OC}, 13);
    Tensor gy = Tensor::empty(y.shape(), DType::F32, kGpu),
           gdx = Tensor::empty(x.shape(), DType::F32, kGpu);
    Tensor gdw = dw.to(kGpu), gdb = db.to(kGpu);
    ops::conv2d_forward(g, x, w, b, y);
    ops::conv2d_forward(g, x.to(kGpu), w.to(kGpu), b.to(kGpu), gy);
    // A direct sum agrees to rounding; FFT and Winograd (taken only where clearly faster) to the
    // error of their transforms.
    const double scale = cuda::conv2d_uses_transforms(g, N, k.OC) ? 100.0 : 1.0;
    expect_twins(gy, y, 1e-5 * scale, 1e-5 * scale);
    ops::conv2d_backward(g, x, w, dy, dx, dw, db);
    ops::conv2d_backward(g, x.to(kGpu), w.to(kGpu), dy.to(kGpu), gdx, gdw, gdb);
    expect_twins(gdx, dx, 1e-5 * scale, 1e-5 * scale);
    expect_twins(gdw, dw, 1e-4 * scale, 1e-5 * scale);  // sums over N x OH x OW products
    expect_twins(gdb, db, 1e-4, 1e-5);
  }
}

// fp16 / bf16 convolutions on the tensor cores (16-bit tensors, float accumulation) against the
// CPU, which computes through float copies and rounds once: y and dx may round to a neighbouring
// 16-bit value; the weight gradient is rounded to 16 bits before it is added in float.
TEST_F(GpuOpsTest, SixteenBitConvolutionsMatchTheCpu) {
  const ops::ConvGeometry g{3, 9, 11, 3, 3, 2, 1, 5, 6};
  const int64_t N = 4, OC = 8;
  for (const DType t : {DType::F16, DType::BF16}) {
    SCOPED_TRACE(t == DType::BF16 ? "bf16" : "fp16");
    const Tensor x = ops::cast(random({N, 3, 9, 11}, 40), t),
                 w = ops::cast(random({OC, 3, 3, 3}, 41), t), b = ops::cast(random({OC}, 42), t),
                 dy = ops::cast(random({N, OC, 5, 6}, 43), t);
    Tensor y = Tensor::empty({N, OC, 5, 6}, t), gy = Tensor::empty(y.shape(), t, kGpu);
    Tensor dx = Tensor::empty(x.shape(), t), gdx = Tensor::empty(x.shape(), t, kGpu);
    Tensor dw = random(w.shape(), 44), db = random({OC}, 45);
    Tensor gdw = dw.to(kGpu), gdb = db.to(kGpu);
    ops::conv2d_forward(g, x, w, b, y);
    ops::conv2d_forward(g, x.to(kGpu), w.to(kGpu), b.to(kGpu), gy);
    const double scale =
        cuda::conv2d_uses_transforms(g, N, OC,
                                     t == DType::BF16 ? cuda::ConvType::BF16 : cuda::ConvType::F16)
            ? 10.0
            : 1.0;
    expect_twins(ops::cast(gy, DType::F32), ops::cast(y, DType::F32), 3e-2 * scale, 1e-2 * scale);
    ops::conv2d_backward(g, x, w, dy, dx, dw, db);
    ops::conv2d_backward(g, x.to(kGpu), w.to(kGpu), dy.to(kGpu), gdx, gdw, gdb);
    expect_twins(ops::cast(gdx, DType::F32), ops::cast(dx, DType::F32), 3e-2 * scale, 1e-2 * scale);
    expect_twins(gdw, dw, 0.1 * scale, 1e-2 * scale);  // sums of 120 products, rounded to 16 bits
    expect_twins(gdb, db, 1e-4, 1e-5);                 // float sums of the same 16-bit dy
  }
}

// The root mean square of t's values: a bound for tensors whose values shrink with their shape
// (attention's y averages over ever more positions) must shrink with them.
double rms(const Tensor& t) {
  double sum = 0.0;
  for (const float v : host_values(t)) sum += double{v} * v;
  return std::sqrt(sum / static_cast<double>(t.numel()));
}

// 16-bit attention on the tensor cores against the CPU's float arithmetic on the same 16-bit
// values: the rows' softmax statistics agree to float rounding; y and dqkv to 16-bit rounding (P
// and dS enter the products rounded to 16 bits), bounded relative to the tensor's size. Head
// dimension 8 takes the unfused path (40 positions: not a multiple of 8); 32, 64 and 128 the
// fused kernels: a last tile of queries and keys cut short (100, 200, 72 positions), three heads,
// and GPT-2's 1024 positions at its head dimension of 64.
TEST_F(GpuOpsTest, SixteenBitAttentionMatchesTheCpu) {
  struct Shape4 {
    int64_t N, T, H, D;
  };
  for (const Shape4 s : {Shape4{2, 40, 2, 8}, Shape4{2, 100, 2, 64}, Shape4{1, 200, 3, 32},
                         Shape4{1, 72, 1, 128}, Shape4{1, 1024, 2, 64}})
    for (const DType t : {DType::F16, DType::BF16}) {
      const int64_t N = s.N, T = s.T, H = s.H, C = H * s.D;
      SCOPED_TRACE((t == DType::BF16 ? "bf16 T " : "fp16 T ") + std::to_string(T) + " D " +
                   std::to_string(s.D));
      const Tensor qkv = ops::cast(random({N, T, 3 * C}, 60), t),
                   dy = ops::cast(random({N, T, C}, 61), t);
      Tensor y = Tensor::empty({N, T, C}, t), gy = Tensor::empty(y.shape(), t, kGpu);
      Tensor stats = Tensor::empty({N, H, T, 2}),
             gstats = Tensor::empty(stats.shape(), DType::F32, kGpu);
      ops::attention_forward(H, qkv, y, stats);
      ops::attention_forward(H, qkv.to(kGpu), gy, gstats);
      expect_twins(gstats, stats, 1e-5, 1e-4);
      const Tensor y32 = ops::cast(y, DType::F32);
      expect_twins(ops::cast(gy, DType::F32), y32, 3e-2 * rms(y32), 3e-2);
      Tensor dqkv = Tensor::empty(qkv.shape(), t), gdqkv = Tensor::empty(qkv.shape(), t, kGpu);
      ops::attention_backward(H, qkv, y, stats, dy, dqkv);
      ops::attention_backward(H, qkv.to(kGpu), gy, gstats, dy.to(kGpu), gdqkv);
      const Tensor d32 = ops::cast(dqkv, DType::F32);
      expect_twins(ops::cast(gdqkv, DType::F32), d32, 3e-2 * rms(d32), 3e-2);
    }
}

// fp16 / bf16 tensors read and written as they are by the activations, the residual add, layer
// norm and the loss (the CPU computes through float copies): the same float arithmetic, so the
// results agree to one 16-bit rounding, and the float gradients and loss sums to float rounding.
TEST_F(GpuOpsTest, SixteenBitElementwiseOpsMatchTheCpu) {
  auto f32 = [](const Tensor& t) { return ops::cast(t, DType::F32); };
  for (const DType t : {DType::F16, DType::BF16}) {
    SCOPED_TRACE(t == DType::BF16 ? "bf16" : "fp16");
    const double tol = t == DType::BF16 ? 1e-2 : 2e-3;
    const Tensor x = ops::cast(random({3, 7, 129}, 70), t),
                 dy = ops::cast(random({3, 7, 129}, 71), t);
    for (const cpu::Activation f :
         {cpu::Activation::ReLU, cpu::Activation::GELU, cpu::Activation::GELUTanh,
          cpu::Activation::Tanh, cpu::Activation::Sigmoid}) {
      Tensor y = Tensor::empty(x.shape(), t), gy = Tensor::empty(x.shape(), t, kGpu);
      ops::activation_forward(f, x, y);
      ops::activation_forward(f, x.to(kGpu), gy);
      expect_twins(f32(gy), f32(y), tol, tol);
      Tensor dx = Tensor::empty(x.shape(), t), gdx = Tensor::empty(x.shape(), t, kGpu);
      ops::activation_backward(f, x, dy, dx);
      ops::activation_backward(f, x.to(kGpu), dy.to(kGpu), gdx);
      expect_twins(f32(gdx), f32(dx), tol, tol);
    }
    Tensor sum = Tensor::empty(x.shape(), t), gsum = Tensor::empty(x.shape(), t, kGpu);
    ops::add(x, dy, sum);
    ops::add(x.to(kGpu), dy.to(kGpu), gsum);
    EXPECT_EQ(host_values(f32(gsum)), host_values(f32(sum)));  // one rounding of the same sum
    const int64_t R = 21, C = 129;
    const Tensor w = ops::cast(random({C}, 72), t), b = ops::cast(random({C}, 73), t);
    Tensor y = Tensor::empty(x.shape(), t), gy = Tensor::empty(x.shape(), t, kGpu);
    Tensor mean = Tensor::empty({R}), rstd = Tensor::empty({R});
    Tensor gmean = mean.to(kGpu), grstd = rstd.to(kGpu);
    ops::layer_norm_forward(x, w, b, y, mean, rstd);
    ops::layer_norm_forward(x.to(kGpu), w.to(kGpu), b.to(kGpu), gy, gmean, grstd);
    expect_twins(f32(gy), f32(y), 3 * tol, tol);
    expect_twins(grstd, rstd, 1e-5, 1e-5);
    Tensor dx = Tensor::empty(x.shape(), t), gdx = Tensor::empty(x.shape(), t, kGpu);
    Tensor dw = random({C}, 74), db = random({C}, 75), gdw = dw.to(kGpu), gdb = db.to(kGpu);
    ops::layer_norm_backward(x, w, mean, rstd, dy, dx, dw, db);
    ops::layer_norm_backward(x.to(kGpu), w.to(kGpu), gmean, grstd, dy.to(kGpu), gdx, gdw, gdb);
    expect_twins(f32(gdx), f32(dx), 3 * tol, tol);
    expect_twins(gdw, dw, 1e-4, 1e-4);
    expect_twins(gdb, db, 1e-4, 1e-4);
    for (const int64_t classes : {int64_t{10}, int64_t{5000}}) {  // narrow rows, and wide
      SCOPED_TRACE(classes);
      const int64_t N = 9;
      const Tensor logits = ops::cast(random({N, classes}, 76), t);
      const Tensor labels = test::random_tokens({N}, static_cast<int32_t>(classes), 77);
      Tensor d = Tensor::empty({N, classes}, t), gd = Tensor::empty({N, classes}, t, kGpu);
      const ops::LossSums c = test::loss_sums(ops::cross_entropy, logits, labels, 0.5f, d);
      const ops::LossSums g =
          test::loss_sums(ops::cross_entropy, logits.to(kGpu), labels.to(kGpu), 0.5f, gd);
      EXPECT_NEAR(g.loss, c.loss, 1e-9 * c.loss);
      EXPECT_EQ(g.correct, c.correct);
      expect_twins(f32(gd), f32(d), 1e-6, tol);
    }
  }
}

// Max-pooling is exact both ways, in fp32 and on 16-bit tensors: the same maxima and argmax (a NaN
// wins), and dx gathers each input's window gradients in the order the CPU scatters them, so
// overlapping windows (stride < K) sum to the same bits; rows no window covers get zero.
TEST_F(GpuOpsTest, MaxPoolIsExactIncludingOverlappingWindowsAndNaN) {
  const auto same = [](const std::vector<float>& got, const std::vector<float>& want) {
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < want.size(); ++i)
      EXPECT_TRUE(got[i] == want[i] || (std::isnan(got[i]) && std::isnan(want[i]))) << i;
  };
  for (const auto& [K, stride] : {std::pair<int64_t, int64_t>{2, 2}, {2, 1}, {3, 2}}) {
    const ops::PoolGeometry g{7, 8, K, stride, (7 - K) / stride + 1, (8 - K) / stride + 1};
    Tensor x32 = random({3, 4, 7, 8}, 14);
    x32.f32()[5] = std::nanf("");
    const Shape ys{3, 4, g.OH, g.OW};
    for (const DType t : {DType::F32, DType::F16, DType::BF16}) {
      SCOPED_TRACE(std::to_string(K) + " " + std::to_string(stride) + " " +
                   std::to_string(static_cast<int>(t)));
      const Tensor x = ops::cast(x32, t), dy = ops::cast(random(ys, 15), t);
      Tensor y = Tensor::empty(ys, t), arg = Tensor::empty(ys, DType::I32),
             dx = Tensor::empty(x.shape(), t);
      Tensor gy = Tensor::empty(ys, t, kGpu), garg = Tensor::empty(ys, DType::I32, kGpu);
      Tensor gdx = Tensor::empty(x.shape(), t, kGpu);
      ops::maxpool_forward(g, x, y, arg);
      ops::maxpool_forward(g, x.to(kGpu), gy, garg);
      same(host_values(ops::cast(gy, DType::F32)), host_values(ops::cast(y, DType::F32)));
      const Tensor harg = garg.to(Device::cpu());
      for (int64_t i = 0; i < arg.numel(); ++i) EXPECT_EQ(harg.i32()[i], arg.i32()[i]) << i;
      ops::maxpool_backward(g, dy, arg, dx);
      ops::maxpool_backward(g, dy.to(kGpu), garg, gdx);
      EXPECT_EQ(host_values(ops::cast(gdx, DType::F32)), host_values(ops::cast(dx, DType::F32)));
    }
  }
}

// The mask is drawn on the device from the CPU's streams: the same units are dropped, bit for bit,
// for more samples than the grid has rows and a sample longer than a block.
TEST_F(GpuOpsTest, DropoutScaleAndSumOfSquaresMatchTheCpu) {
  for (const Shape& shape : {Shape{70000, 3}, Shape{3, 4097}}) {
    const Tensor x = random(shape, 18);
    Tensor y = Tensor::empty(shape), gy = Tensor::empty(shape, DType::F32, kGpu);
    const cpu::DropoutMask mask{0x5eed, 7, 0.3f};
    ops::dropout(x, mask, y);
    ops::dropout(x.to(kGpu), mask, gy);
    EXPECT_EQ(host_values(gy), host_values(y));
  }
  const Tensor x = random({4097}, 18);
  Tensor y = x.clone(), gy = x.to(kGpu), factor = Tensor::empty({1});
  factor.fill(0.37f);  // where the tensor is, as the step's decision holds it
  const Tensor gfactor = factor.to(kGpu);
  ops::scale_by(y, factor.f32());
  ops::scale_by(gy, gfactor.f32());
  EXPECT_EQ(host_values(gy), host_values(y));
  const Tensor big = random({1 << 20}, 20);
  EXPECT_NEAR(ops::sum_squares(big.to(kGpu)), ops::sum_squares(big), 1e-9 * ops::sum_squares(big));
}

// Classifier rows (one thread each) and a language model's vocabulary-wide rows (one block each).
TEST_F(GpuOpsTest, LossesMatchTheCpu) {
  for (const int64_t C : {int64_t{10}, int64_t{5000}}) {
    SCOPED_TRACE(C);
    const int64_t N = 65;
    const Tensor logits = random({N, C}, 21);
    Tensor labels = Tensor::empty({N}, DType::I32);
    for (int64_t n = 0; n < N; ++n) labels.i32()[n] = static_cast<int32_t>((n * 7) % C);
    for (bool mse : {false, true}) {
      Tensor d = Tensor::empty({N, C}), gd = Tensor::empty({N, C}, DType::F32, kGpu);
      const test::LossOp loss = mse ? ops::mse : ops::cross_entropy;
      const ops::LossSums c = test::loss_sums(loss, logits, labels, 1.0f / N, d);
      const ops::LossSums g = test::loss_sums(loss, logits.to(kGpu), labels.to(kGpu), 1.0f / N, gd);
      EXPECT_NEAR(g.loss, c.loss, 1e-9 * c.loss);
      EXPECT_EQ(g.correct, c.correct);
      expect_twins(gd, d, 1e-7, 1e-6);
    }
  }
}

// The embedding's gradients add each token's positions in position order, as the CPU does, so
// they agree bit for bit: 4,096 positions over 50 tokens (long runs of one token), added onto
// gradients already there (the tied head's), channels not a multiple of a block.
TEST_F(GpuOpsTest, EmbeddingGradientsAreTheCpusBitForBit) {
  const int64_t N = 8, T = 512, C = 300;
  const Tensor tokens = test::random_tokens({N, T}, 50, 50), dy = random({N, T, C}, 51);
  Tensor dwte = random({50, C}, 52), dwpe = random({T, C}, 53);
  Tensor gdwte = dwte.to(kGpu), gdwpe = dwpe.to(kGpu);
  ops::embedding_backward(tokens, dy, dwte, dwpe);
  ops::embedding_backward(tokens.to(kGpu), dy.to(kGpu), gdwte, gdwpe);
  EXPECT_EQ(host_values(gdwte), host_values(dwte));
  EXPECT_EQ(host_values(gdwpe), host_values(dwpe));
}

// Tensor parallelism's kernels: the embedding over a slice of the vocabulary (rows 8..15 of 24;
// tokens outside contribute zeros, positions added or not) and the vocabulary-parallel
// cross-entropy's three passes over columns 12..18 of 19.
TEST_F(GpuOpsTest, VocabularySlicesMatchTheCpu) {
  const int64_t N = 3, T = 5, C = 4;
  const Tensor tokens = test::random_tokens({N, T}, 24, 2);
  const Tensor wte = random({8, C}, 3), wpe = random({T, C}, 4), dy = random({N, T, C}, 5);
  for (bool positions : {false, true}) {
    Tensor y = Tensor::empty({N, T, C}), gy = Tensor::empty({N, T, C}, DType::F32, kGpu);
    ops::embedding_forward(tokens, wte, wpe, y, 8, positions);
    ops::embedding_forward(tokens.to(kGpu), wte.to(kGpu), wpe.to(kGpu), gy, 8, positions);
    expect_twins(gy, y, 0, 0);
  }
  Tensor dwte = Tensor::zeros({8, C}), dwpe = Tensor::zeros({T, C});
  Tensor gdwte = dwte.to(kGpu), gdwpe = dwpe.to(kGpu);
  ops::embedding_backward(tokens, dy, dwte, dwpe, 8);
  ops::embedding_backward(tokens.to(kGpu), dy.to(kGpu), gdwte, gdwpe, 8);
  expect_twins(gdwte, dwte, 0, 0);
  expect_twins(gdwpe, dwpe, 0, 0);

  // A vocabulary slice narrower than a block, and one of several columns per thread.
  for (const int64_t columns : {int64_t{7}, int64_t{3000}}) {
    SCOPED_TRACE(columns);
    const int64_t rows = 6, begin = 12;
    const Tensor logits = test::random_tensor({rows, columns}, 6, -3.0f, 3.0f);
    const Tensor labels = test::random_tokens({rows}, 19, 7);
    Tensor mx = Tensor::empty({rows}), target = Tensor::empty({rows}), sum = Tensor::empty({rows});
    Tensor gmx = mx.to(kGpu), gtarget = target.to(kGpu), gsum = sum.to(kGpu);
    ops::split_ce_max_target(logits, labels, begin, mx, target);
    ops::split_ce_max_target(logits.to(kGpu), labels.to(kGpu), begin, gmx, gtarget);
    expect_twins(gmx, mx, 0, 0);
    expect_twins(gtarget, target, 0, 0);
    ops::split_ce_sum_exp(logits, mx, sum);
    ops::split_ce_sum_exp(logits.to(kGpu), mx.to(kGpu), gsum);
    expect_twins(gsum, sum, 0, 1e-6);
    Tensor d = Tensor::empty({rows, columns}),
           gd = Tensor::empty({rows, columns}, DType::F32, kGpu);
    LossTotals want_totals(Device::cpu()), got_totals(kGpu);
    ops::split_ce_loss(logits, labels, begin, mx, sum, target, 0.5f, d, want_totals);
    ops::split_ce_loss(logits.to(kGpu), labels.to(kGpu), begin, mx.to(kGpu), sum.to(kGpu),
                       target.to(kGpu), 0.5f, gd, got_totals);
    const ops::LossSums want = want_totals.read(), got = got_totals.read();
    EXPECT_NEAR(got.loss, want.loss, 1e-9 * std::abs(want.loss));
    EXPECT_EQ(got.correct, want.correct);
    expect_twins(gd, d, 1e-7, 1e-6);
  }
}

// The fused multi-tensor updates against the per-parameter CPU loop, over more parameters than
// one launch takes (48), for both optimizers and two steps (momentum and moments in play).
TEST_F(GpuOpsTest, FusedOptimizerUpdatesMatchTheCpu) {
  for (const char* kind : {"sgd", "adamw"}) {
    std::vector<Param> cpu_params, gpu_params;
    for (int i = 0; i < 53; ++i) {
      const Shape s{1 + (i * 37) % 300};
      Param p{"p" + std::to_string(i), random(s, 100 + i), random(s, 200 + i), Tensor()};
      gpu_params.push_back({p.name, p.value.to(kGpu), p.grad.to(kGpu), Tensor()});
      cpu_params.push_back(std::move(p));
    }
    auto pointers = [](std::vector<Param>& ps) {
      std::vector<Param*> out;
      for (Param& p : ps) out.push_back(&p);
      return out;
    };
    std::unique_ptr<Optimizer> c, g;
    if (std::string(kind) == "sgd") {
      c = std::make_unique<Sgd>(pointers(cpu_params), 0.9f, 1e-4f, true);
      g = std::make_unique<Sgd>(pointers(gpu_params), 0.9f, 1e-4f, true);
    } else {
      c = std::make_unique<Adam>(pointers(cpu_params), 0.9f, 0.999f, 1e-8f, 0.01f, true);
      g = std::make_unique<Adam>(pointers(gpu_params), 0.9f, 0.999f, 1e-8f, 0.01f, true);
    }
    for (int step = 0; step < 2; ++step) {
      c->step(0.01f);
      g->step(0.01f);
    }
    for (size_t i = 0; i < cpu_params.size(); ++i)
      expect_twins(gpu_params[i].value, cpu_params[i].value, 1e-7, 1e-6);
  }
}

// A data set that fits is kept on the GPU and batches are gathered there: the same batches as
// gathered on the host, shard by shard.
TEST_F(GpuOpsTest, ResidentDataSetGivesTheHostsBatches) {
  SyntheticDataset data(300, {1, 6, 6}, 4, 1.0f, 9, Split::Train);
  DataLoader host(data, 32, true, 5), device(data, 32, true, 5, kGpu);
  ASSERT_TRUE(device.resident());
  for (int64_t b = 0; b < 3; ++b) {
    const Batch h = host.load(1, b, 8, 24), d = device.load(1, b, 8, 24);
    EXPECT_EQ(d.x.device(), kGpu);
    EXPECT_EQ(host_values(d.x), host_values(h.x));
    const Tensor labels = d.y.to(Device::cpu());
    for (int64_t i = 0; i < 16; ++i) EXPECT_EQ(labels.i32()[i], h.y.i32()[i]);
  }
}

// The fp16 / bf16 conversions of the GPU against the CPU's, bit for bit, and an op on 16-bit
// tensors (float arithmetic, one rounding) against the CPU's.
TEST_F(GpuOpsTest, HalfPrecisionMatchesTheCpu) {
  const Tensor x = test::random_tensor({4099}, 30, -70000.0f, 70000.0f);
  for (DType t : {DType::F16, DType::BF16}) {
    const Tensor cpu = ops::cast(x, t), gpu = ops::cast(x.to(kGpu), t).to(Device::cpu());
    const uint16_t* a = static_cast<const uint16_t*>(cpu.raw());
    const uint16_t* b = static_cast<const uint16_t*>(gpu.raw());
    for (int64_t i = 0; i < x.numel(); ++i) ASSERT_EQ(b[i], a[i]) << i;
    EXPECT_EQ(host_values(ops::cast(cpu.to(kGpu), DType::F32)),
              host_values(ops::cast(cpu, DType::F32)));
    // 20 inputs: a leading dimension that is not a multiple of 8, where cuBLASLt may have no
    // 16-bit algorithm; and the fallback forced.
    const Tensor in = ops::cast(random({9, 20}, 31), t), w = ops::cast(random({6, 20}, 32), t),
                 bias = ops::cast(random({6}, 33), t);
    for (bool fallback : {false, true}) {
      cuda::force_gemm_fallback(fallback);
      Tensor y = Tensor::empty({9, 6}, t), gy = Tensor::empty({9, 6}, t, kGpu);
      ops::linear_forward(in, w, bias, y);
      ops::linear_forward(in.to(kGpu), w.to(kGpu), bias.to(kGpu), gy);
      // Float sums in another order may round to the neighbouring 16-bit value.
      expect_twins(ops::cast(gy, DType::F32), ops::cast(y, DType::F32), 1e-3, 1e-2);
    }
    cuda::force_gemm_fallback(false);
  }
}

}  // namespace
}  // namespace trainer
