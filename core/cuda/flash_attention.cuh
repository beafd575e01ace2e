// Causal self-attention on fp16 / bf16 fused per tile on the tensor cores: flash attention's
// algorithm (Dao et al., FlashAttention-2). No scores ever reach device memory: a block holds 64
// query rows and walks the key tiles up to its diagonal, keeping each row's running maximum and
// sum; backward computes P again from forward's stats, tile by tile. The same operations as the
// unfused path of core/cuda/attention.cu (scores and softmax in float, P and dS rounded to 16 bits
// where they enter a product), the same stats(N, H, T, 2), so the two paths agree to 16-bit
// rounding, and both with the CPU twin.
//
// Deterministic: backward computes dK and dV (a block per key tile, over the query tiles below
// it) and dQ (a block per query tile, over the key tiles before it) in two kernels that each sum
// in a fixed order, instead of adding dQ from every key tile with atomics; it costs two more
// products per tile pair, and a run's weights are the same bits run after run.
#pragma once

#include <cstdint>
#include <initializer_list>

// Host code may include this header in any build: the cost model asks which heads the kernels take.
namespace trainer::cuda {

// The head dimensions the kernels are built for: whole 16 x 16 tiles, and at 128 the
// accumulators fill the registers.
constexpr bool flash_attention_head_dim(int64_t D) { return D == 32 || D == 64 || D == 128; }

// Whether the fused kernels take this call: a head dimension they are built for, the grid's
// limits on N and H, and every tensor 16-byte aligned (rows are read and written 16 bytes at a
// time).
bool flash_attention_fits(int64_t N, int64_t H, int64_t D,
                          std::initializer_list<const void*> tensors);

void flash_attention_forward(bool bf16, int64_t N, int64_t T, int64_t H, int64_t D, const void* qkv,
                             void* y, float* stats);
void flash_attention_backward(bool bf16, int64_t N, int64_t T, int64_t H, int64_t D,
                              const void* qkv, const void* y, const float* stats, const void* dy,
                              void* dqkv);

}  // namespace trainer::cuda
