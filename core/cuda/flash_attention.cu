#include <cstdint>
#include <type_traits>

#include "core/cuda/flash_attention.cuh"
#include "core/cuda/flash_attention_kernels.cuh"
#include "core/cuda/launch.cuh"
#include "core/cuda/scratch.cuh"

namespace trainer::cuda {
namespace {

// fn(std::integral_constant<int, D>) for D of 32, 64 or 128: flash_attention_head_dim's.
template <class Fn>
void with_head_dim(int64_t D, Fn fn) {
  if (D == 32)
    fn(std::integral_constant<int, 32>{});
  else if (D == 64)
    fn(std::integral_constant<int, 64>{});
  else
    fn(std::integral_constant<int, 128>{});
}

}  // namespace

bool flash_attention_fits(int64_t N, int64_t H, int64_t D,
                          std::initializer_list<const void*> tensors) {
  constexpr int64_t kGridYZ = 65535;
  for (const void* p : tensors)
    if (reinterpret_cast<uintptr_t>(p) % 16 != 0) return false;
  return flash_attention_head_dim(D) && N <= kGridYZ && H <= kGridYZ;
}

void flash_attention_forward(bool bf16, int64_t N, int64_t T, int64_t H, int64_t D, const void* qkv,
                             void* y, float* stats) {
  with_16(bf16, [&](auto e) {
    using E = decltype(e);
    with_head_dim(D, [&](auto d) {
      constexpr int kD = decltype(d)::value;
      const size_t bytes = flash::ForwardShared<kD>::bytes;
      static const bool allowed = (allow_shared_memory(flash::forward_kernel<E, kD>, bytes), true);
      (void)allowed;
      launch(flash::forward_kernel<E, kD>, flash::grid(N, T, H), flash::kFlashThreads, bytes, T, H,
             flash::scale_of(D), static_cast<const uint16_t*>(qkv), static_cast<uint16_t*>(y),
             reinterpret_cast<float2*>(stats));
    });
  });
}

void flash_attention_backward(bool bf16, int64_t N, int64_t T, int64_t H, int64_t D,
                              const void* qkv, const void* y, const float* stats, const void* dy,
                              void* dqkv) {
  const Scratch delta(static_cast<size_t>(N * H * T) * sizeof(float));
  with_16(bf16, [&](auto e) {
    using E = decltype(e);
    const auto* dy16 = static_cast<const uint16_t*>(dy);
    launch(flash::row_dot_kernel<E>, warp_row_blocks(N * H * T), kThreads, 0, N * H * T, T, H, D,
           dy16, static_cast<const uint16_t*>(y), delta.get<float>());
    with_head_dim(D, [&](auto d) {
      constexpr int kD = decltype(d)::value;
      const size_t bytes = flash::BackwardShared<kD>::bytes;
      static const bool allowed = (allow_shared_memory(flash::dkdv_kernel<E, kD>, bytes),
                                   allow_shared_memory(flash::dq_kernel<E, kD>, bytes), true);
      (void)allowed;
      const auto* q = static_cast<const uint16_t*>(qkv);
      const auto* st = reinterpret_cast<const float2*>(stats);
      auto* dq = static_cast<uint16_t*>(dqkv);
      launch(flash::dkdv_kernel<E, kD>, flash::grid(N, T, H), flash::kFlashThreads, bytes, T, H,
             flash::scale_of(D), q, dy16, st, delta.get<float>(), dq);
      launch(flash::dq_kernel<E, kD>, flash::grid(N, T, H), flash::kFlashThreads, bytes, T, H,
             flash::scale_of(D), q, dy16, st, delta.get<float>(), dq);
    });
  });
}

}  // namespace trainer::cuda
