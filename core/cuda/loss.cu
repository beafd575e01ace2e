#include <algorithm>

#include "core/cpu/loss_rows.h"
#include "core/cuda/cast.cuh"
#include "core/cuda/element.cuh"
#include "core/cuda/launch.cuh"
#include "core/cuda/loss.cuh"
#include "core/cuda/reduce.cuh"
#include "core/cuda/scratch.cuh"

namespace trainer::cuda {

// One thread per row running the CPU twin's row function (core/cpu/loss_rows.h): classifier heads
// are narrow (C = 10 here). The rows' results are then added on the device (add_rows_kernel).
template <cpu::RowLoss (*RowFn)(int64_t, const float*, int32_t, float, float*)>
__global__ void loss_kernel(int64_t N, int64_t C, const float* logits, const int32_t* labels,
                            float grad_scale, float* dlogits, double* loss, int32_t* correct) {
  for (int64_t n = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; n < N;
       n += int64_t{gridDim.x} * blockDim.x) {
    const cpu::RowLoss r =
        RowFn(C, logits + n * C, labels[n], grad_scale, dlogits ? dlogits + n * C : nullptr);
    loss[n] = r.loss;
    correct[n] = r.correct;
  }
}

// A language model's vocabulary-wide rows (C in the tens of thousands): one block per row, in
// float, the max, the sum of exponentials and the gradient split over its threads.
constexpr int kWideRow = 1024;

// Logits and their gradient of element type E (16-bit ones read and written as such: a
// vocabulary-wide row is the largest tensor of a language model's step).
template <class E>
__global__ void cross_entropy_wide_kernel(int64_t N, int64_t C, const typename E::T* logits,
                                          const int32_t* labels, float grad_scale,
                                          typename E::T* dlogits, double* loss, int32_t* correct) {
  __shared__ float best_v[kThreads];
  __shared__ int64_t best_i[kThreads];
  __shared__ double sums[kThreads];
  for (int64_t n = blockIdx.x; n < N; n += gridDim.x) {
    const typename E::T* row = logits + n * C;
    float bv = -INFINITY;
    int64_t bi = 0;
    for (int64_t c = threadIdx.x; c < C; c += blockDim.x)
      if (E::get(row[c]) > bv) {
        bv = E::get(row[c]);
        bi = c;
      }
    best_v[threadIdx.x] = bv;
    best_i[threadIdx.x] = bi;
    __syncthreads();
    for (unsigned s = blockDim.x / 2; s > 0; s /= 2) {  // the first index of the max, as on the CPU
      if (threadIdx.x < s) {
        const float ov = best_v[threadIdx.x + s];
        const int64_t oi = best_i[threadIdx.x + s];
        if (ov > best_v[threadIdx.x] || (ov == best_v[threadIdx.x] && oi < best_i[threadIdx.x])) {
          best_v[threadIdx.x] = ov;
          best_i[threadIdx.x] = oi;
        }
      }
      __syncthreads();
    }
    const float mx = best_v[0];
    // The CPU twin's arithmetic (cross_entropy_row): each exponential in float through
    // exp_poly, their sum in double, the gradient through the sum's float inverse.
    double s = 0.0;
    for (int64_t c = threadIdx.x; c < C; c += blockDim.x) s += cpu::exp_poly(E::get(row[c]) - mx);
    const double denom = block_reduce(s, sums, AddOp{});
    const int32_t label = labels[n];
    if (dlogits) {
      const float inv = static_cast<float>(1.0 / denom);
      for (int64_t c = threadIdx.x; c < C; c += blockDim.x) {
        const float p = cpu::exp_poly(E::get(row[c]) - mx) * inv * grad_scale;
        dlogits[n * C + c] = E::put(c == label ? p - grad_scale : p);
      }
    }
    if (threadIdx.x == 0) {
      loss[n] = log(denom) - static_cast<double>(E::get(row[label]) - mx);
      correct[n] = best_i[0] == label;
    }
    __syncthreads();  // the shared arrays are reused by the next row
  }
}

// Adds N rows' losses and correct flags into totals, in one block: each thread sums a fixed
// stride of rows, then a tree joins the threads. The order depends on N only (deterministic; not
// the CPU's row order, so the two agree to rounding).
constexpr int kSumThreads = 1024;

__global__ void add_rows_kernel(int64_t N, const double* loss, const int32_t* correct,
                                double* totals) {
  __shared__ double l[kSumThreads];
  __shared__ int64_t c[kSumThreads];
  double ls = 0.0;
  int64_t cs = 0;
  for (int64_t n = threadIdx.x; n < N; n += kSumThreads) {
    ls += loss[n];
    cs += correct[n];
  }
  ls = block_reduce(ls, l, AddOp{});
  cs = block_reduce(cs, c, AddOp{});
  if (threadIdx.x == 0) {
    totals[0] += ls;
    totals[1] += static_cast<double>(cs);
  }
}

// Blocks for a kernel of one block per row.
unsigned block_row_blocks(int64_t N) {
  return static_cast<unsigned>(std::min<int64_t>(N, 132 * 16));
}

// Runs a loss kernel into per-row buffers and adds the rows into totals, all queued on the
// compute stream (nothing waits for the device): `rows_kernel(blocks, loss, correct)` launches it.
template <class RowsKernel>
static void run_loss(int64_t N, double* totals, RowsKernel rows_kernel,
                     bool block_per_row = false) {
  if (N == 0) return;
  const Scratch rows(static_cast<size_t>(N) * (sizeof(double) + sizeof(int32_t)));
  double* loss = rows.get<double>();
  int32_t* correct = reinterpret_cast<int32_t*>(loss + N);
  const unsigned blocks = block_per_row ? block_row_blocks(N) : blocks_for(N);
  rows_kernel(blocks, loss, correct);
  launch(add_rows_kernel, 1, kSumThreads, 0, N, loss, correct, totals);
}

// The vocabulary-parallel passes over each rank's slice of C columns (C = 50304 / T for GPT-2):
// one block per row, as the whole-vocabulary loss, with the CPU twin's arithmetic
// (core/cpu/loss_rows.h): exponentials in float through exp_poly, their sum in double.
__global__ void split_ce_max_target_kernel(int64_t N, int64_t C, const float* logits,
                                           const int32_t* labels, int64_t begin, float* row_max,
                                           float* target) {
  __shared__ float shared[kThreads];
  for (int64_t n = blockIdx.x; n < N; n += gridDim.x) {
    const float* row = logits + n * C;
    float mx = -INFINITY;
    for (int64_t c = threadIdx.x; c < C; c += blockDim.x) mx = MaxOp{}(mx, row[c]);
    mx = block_reduce(mx, shared, MaxOp{});
    if (threadIdx.x == 0) {
      row_max[n] = mx;
      target[n] = cpu::split_ce_target(C, row, labels[n], begin);
    }
  }
}

__global__ void split_ce_sum_exp_kernel(int64_t N, int64_t C, const float* logits,
                                        const float* row_max, float* sum_exp) {
  __shared__ double shared[kThreads];
  for (int64_t n = blockIdx.x; n < N; n += gridDim.x) {
    const float* row = logits + n * C;
    double s = 0.0;
    for (int64_t c = threadIdx.x; c < C; c += blockDim.x) s += cpu::exp_poly(row[c] - row_max[n]);
    s = block_reduce(s, shared, AddOp{});
    if (threadIdx.x == 0) sum_exp[n] = static_cast<float>(s);
  }
}

struct SplitRows {
  int64_t begin;
  const float *row_max, *sum_exp, *target;
};

__global__ void split_ce_loss_kernel(int64_t N, int64_t C, const float* logits,
                                     const int32_t* labels, SplitRows s, float grad_scale,
                                     float* dlogits, double* loss, int32_t* correct) {
  for (int64_t n = blockIdx.x; n < N; n += gridDim.x) {
    const float* row = logits + n * C;
    const int64_t label = labels[n] - s.begin;  // in this slice when in [0, C)
    const float mx = s.row_max[n];
    if (dlogits) {
      const float scale = grad_scale / s.sum_exp[n];
      for (int64_t c = threadIdx.x; c < C; c += blockDim.x) {
        const float p = cpu::exp_poly(row[c] - mx) * scale;
        dlogits[n * C + c] = c == label ? p - grad_scale : p;
      }
    }
    if (threadIdx.x == 0) {
      const cpu::RowLoss r = cpu::split_ce_loss_of(mx, s.sum_exp[n], s.target[n]);
      loss[n] = r.loss;
      correct[n] = r.correct;
    }
  }
}

void split_ce_max_target(int64_t N, int64_t C, const float* logits, const int32_t* labels,
                         int64_t begin, float* row_max, float* target) {
  if (N == 0) return;
  launch(split_ce_max_target_kernel, block_row_blocks(N), kThreads, 0, N, C, logits, labels, begin,
         row_max, target);
}

void split_ce_sum_exp(int64_t N, int64_t C, const float* logits, const float* row_max,
                      float* sum_exp) {
  if (N == 0) return;
  launch(split_ce_sum_exp_kernel, block_row_blocks(N), kThreads, 0, N, C, logits, row_max, sum_exp);
}

void split_ce_loss(int64_t N, int64_t C, const float* logits, const int32_t* labels, int64_t begin,
                   const float* row_max, const float* sum_exp, const float* target,
                   float grad_scale, float* dlogits, double* totals) {
  const SplitRows s{begin, row_max, sum_exp, target};
  run_loss(
      N, totals,
      [&](unsigned blocks, double* loss, int32_t* correct) {
        launch(split_ce_loss_kernel, blocks, kThreads, 0, N, C, logits, labels, s, grad_scale,
               dlogits, loss, correct);
      },
      true);
}

// A launch of `kernel` over the whole-vocabulary loss's arguments.
template <class Kernel>
static auto launcher(Kernel kernel, int64_t N, int64_t C, const float* logits,
                     const int32_t* labels, float grad_scale, float* dlogits) {
  return [=](unsigned blocks, double* loss, int32_t* correct) {
    launch(kernel, blocks, kThreads, 0, N, C, logits, labels, grad_scale, dlogits, loss, correct);
  };
}

void softmax_cross_entropy(int64_t N, int64_t C, const float* logits, const int32_t* labels,
                           float grad_scale, float* dlogits, double* totals) {
  if (C >= kWideRow)
    run_loss(
        N, totals,
        launcher(cross_entropy_wide_kernel<F32Elem>, N, C, logits, labels, grad_scale, dlogits),
        true);
  else
    run_loss(
        N, totals,
        launcher(loss_kernel<cpu::cross_entropy_row>, N, C, logits, labels, grad_scale, dlogits));
}

void softmax_cross_entropy_16(bool bf16, int64_t N, int64_t C, const void* logits,
                              const int32_t* labels, float grad_scale, void* dlogits,
                              double* totals) {
  if (C < kWideRow) {  // a classifier's narrow rows: through float copies, as on the CPU
    const Scratch wide(static_cast<size_t>(N * C) * sizeof(float));
    const Scratch grad(dlogits ? wide.bytes() : 0);
    (bf16 ? bf16_to_f32 : f16_to_f32)(N * C, static_cast<const uint16_t*>(logits),
                                      wide.get<float>());
    softmax_cross_entropy(N, C, wide.get<float>(), labels, grad_scale, grad.get<float>(), totals);
    if (dlogits)
      (bf16 ? f32_to_bf16 : f32_to_f16)(N * C, grad.get<float>(), static_cast<uint16_t*>(dlogits));
    return;
  }
  with_16(bf16, [&](auto e) {
    using E = decltype(e);
    run_loss(
        N, totals,
        [&](unsigned blocks, double* loss, int32_t* correct) {
          launch(cross_entropy_wide_kernel<E>, blocks, kThreads, 0, N, C, as<E>(logits), labels,
                 grad_scale, dlogits ? as<E>(dlogits) : nullptr, loss, correct);
        },
        true);
  });
}

void mse_onehot(int64_t N, int64_t C, const float* logits, const int32_t* labels, float grad_scale,
                float* dlogits, double* totals) {
  run_loss(N, totals,
           launcher(loss_kernel<cpu::mse_row>, N, C, logits, labels, grad_scale, dlogits));
}

}  // namespace trainer::cuda
