// The fused attention kernels' own source (core/cuda/flash_attention_kernels.cuh), run on the host
// by tests/emulation/cuda_emulation.h, against the CPU twin: what the GPU test
// SixteenBitAttentionMatchesTheCpu checks on a device, here in CI, which has none. Every launch
// is flash_attention.cu's, with its grid, block and shared memory; a wrong index, mask, tile
// bound or barrier shows here as on the GPU. The tensor cores' own rounding does not (the
// emulation multiplies and adds in float), so the bounds are the GPU test's.
#include "tests/emulation/cuda_emulation.h"
// The emulation first: the kernels' header takes its barriers, shuffles and wmma.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "core/cuda/flash_attention_kernels.cuh"
#include "core/ops.h"
#include "tests/test_support.h"

namespace trainer {
namespace {

namespace flash = cuda::flash;

struct Shape4 {
  int64_t N, T, H, D;
};

std::vector<float> values(const Tensor& t) {
  const Tensor f = ops::cast(t, DType::F32);
  return std::vector<float>(f.f32(), f.f32() + f.numel());
}

double rms(const std::vector<float>& v) {
  double sum = 0.0;
  for (const float x : v) sum += double{x} * x;
  return std::sqrt(sum / static_cast<double>(v.size()));
}

// flash_attention_forward and flash_attention_backward's launches, on the host.
template <class E, int kD>
void flash_on_host(const Shape4& s, const Tensor& qkv, const Tensor& dy, Tensor& y, Tensor& stats,
                   Tensor& dqkv) {
  const dim3 grid = flash::grid(s.N, s.T, s.H);
  const float scale = flash::scale_of(kD);
  const auto* q = static_cast<const uint16_t*>(qkv.raw());
  const auto* d = static_cast<const uint16_t*>(dy.raw());
  auto* st = reinterpret_cast<float2*>(stats.f32());
  emu::launch(flash::forward_kernel<E, kD>, grid, flash::kFlashThreads,
              flash::ForwardShared<kD>::bytes, s.T, s.H, scale, q, static_cast<uint16_t*>(y.raw()),
              st);
  const int64_t rows = s.N * s.H * s.T;
  std::vector<float> delta(static_cast<size_t>(rows));
  emu::launch(flash::row_dot_kernel<E>, dim3(cuda::warp_row_blocks(rows)), cuda::kThreads, 0, rows,
              s.T, s.H, s.D, d, static_cast<const uint16_t*>(y.raw()), delta.data());
  auto* dq = static_cast<uint16_t*>(dqkv.raw());
  emu::launch(flash::dkdv_kernel<E, kD>, grid, flash::kFlashThreads,
              flash::BackwardShared<kD>::bytes, s.T, s.H, scale, q, d, st, delta.data(), dq);
  emu::launch(flash::dq_kernel<E, kD>, grid, flash::kFlashThreads, flash::BackwardShared<kD>::bytes,
              s.T, s.H, scale, q, d, st, delta.data(), dq);
}

template <class E>
void flash_on_host(const Shape4& s, const Tensor& qkv, const Tensor& dy, Tensor& y, Tensor& stats,
                   Tensor& dqkv) {
  if (s.D == 32) return flash_on_host<E, 32>(s, qkv, dy, y, stats, dqkv);
  if (s.D == 64) return flash_on_host<E, 64>(s, qkv, dy, y, stats, dqkv);
  ASSERT_EQ(s.D, 128);
  flash_on_host<E, 128>(s, qkv, dy, y, stats, dqkv);
}

// Head dimensions 32, 64 and 128; the last tile of queries and keys cut short (100, 200, 72
// positions: 36, 8 and 8 rows of 64), two sequences, three heads.
TEST(FlashAttentionEmulationTest, TheKernelsSourceMatchesTheCpuTwin) {
  for (const Shape4 s : {Shape4{2, 100, 2, 64}, Shape4{1, 200, 3, 32}, Shape4{1, 72, 1, 128}})
    for (const DType t : {DType::F16, DType::BF16}) {
      const int64_t C = s.H * s.D;
      SCOPED_TRACE((t == DType::BF16 ? "bf16 T " : "fp16 T ") + std::to_string(s.T) + " D " +
                   std::to_string(s.D));
      const Tensor qkv = ops::cast(test::random_tensor({s.N, s.T, 3 * C}, 60), t),
                   dy = ops::cast(test::random_tensor({s.N, s.T, C}, 61), t);
      Tensor y = Tensor::empty({s.N, s.T, C}, t), stats = Tensor::empty({s.N, s.H, s.T, 2}),
             dqkv = Tensor::empty(qkv.shape(), t);
      ops::attention_forward(s.H, qkv, y, stats);
      ops::attention_backward(s.H, qkv, y, stats, dy, dqkv);

      Tensor fy = Tensor::empty(y.shape(), t), fstats = Tensor::empty(stats.shape()),
             fdqkv = Tensor::empty(qkv.shape(), t);
      if (t == DType::BF16)
        flash_on_host<cuda::Bf16Elem>(s, qkv, dy, fy, fstats, fdqkv);
      else
        flash_on_host<cuda::F16Elem>(s, qkv, dy, fy, fstats, fdqkv);

      test::expect_close(values(fstats), values(stats), 1e-5, 1e-4);
      const std::vector<float> want_y = values(y), want_d = values(dqkv);
      test::expect_close(values(fy), want_y, 3e-2 * rms(want_y), 3e-2);
      test::expect_close(values(fdqkv), want_d, 3e-2 * rms(want_d), 3e-2);
    }
}

}  // namespace
}  // namespace trainer
