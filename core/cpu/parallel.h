// Intra-op parallelism of the CPU kernels: OpenMP threads over contiguous ranges of work.
//
// BLAS runs single-threaded inside each range: measured on the Fashion-MNIST CNN, two OpenMP
// threads each calling single-threaded GEMMs train 1.55x faster than one thread, while letting
// OpenBLAS's own threads run inside OpenMP's makes it 3x slower than one thread.
// Ranges are fixed for a given thread count and reductions add per-thread partial sums in
// thread order, so results repeat exactly run after run with the same thread count.
#pragma once

#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <utility>
#include <vector>

namespace trainer::cpu {

// Threads the kernels use (and BLAS pinned to one); 0 = OpenMP's default (OMP_NUM_THREADS or
// every core).
void set_threads(int threads);
int threads();

// How many threads share n items when each should get at least `grain` of them.
inline int threads_for(int64_t n, int64_t grain) {
  const int64_t useful = std::max<int64_t>(1, n / std::max<int64_t>(grain, 1));
  return static_cast<int>(std::min<int64_t>(omp_get_max_threads(), useful));
}

// f(thread, begin, end) over T contiguous ranges covering [0, n).
template <class F>
void parallel_ranges_on(int T, int64_t n, F&& f) {
  if (T == 1) {
    f(0, int64_t{0}, n);
    return;
  }
#pragma omp parallel num_threads(T)
  {
    const int t = omp_get_thread_num();
    f(t, n * t / T, n * (t + 1) / T);
  }
}

// The same, with as many threads as threads_for(n, grain).
template <class F>
void parallel_ranges(int64_t n, int64_t grain, F&& f) {
  parallel_ranges_on(threads_for(n, grain), n, std::forward<F>(f));
}

// Like parallel_ranges, giving each thread a zeroed private buffer that is the concatenation of
// `outputs` (pointer, length); afterwards the buffers are added into the outputs in thread
// order. f(thread, begin, end, buffer).
template <class F>
void parallel_accumulate(int64_t n, int64_t grain,
                         std::initializer_list<std::pair<float*, int64_t>> outputs, F&& f) {
  int64_t len = 0;
  for (const auto& o : outputs) len += o.first ? o.second : 0;
  const int T = threads_for(n, grain);
  thread_local std::vector<float> buffers;
  buffers.assign(static_cast<size_t>(T * len), 0.0f);
  float* base = buffers.data();
  parallel_ranges_on(T, n,
                     [&](int t, int64_t begin, int64_t end) { f(t, begin, end, base + t * len); });
  for (int t = 0; t < T; ++t) {
    const float* part = base + t * len;
    for (const auto& [out, count] : outputs) {
      if (!out) continue;
      for (int64_t i = 0; i < count; ++i) out[i] += part[i];
      part += count;
    }
  }
}

}  // namespace trainer::cpu
