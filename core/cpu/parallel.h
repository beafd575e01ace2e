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
#include <array>
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

// Like parallel_ranges, for f(thread, begin, end, parts) that adds into `outputs` (pointer,
// length; a null pointer is an output not wanted): parts[k] is where thread t adds the k-th
// output (null when it is not wanted). One thread adds into the outputs themselves; several
// each add into a zeroed private buffer, added into the outputs afterwards in thread order (the
// sums' order then follows the thread count).
template <class F>
void parallel_accumulate(int64_t n, int64_t grain,
                         std::initializer_list<std::pair<float*, int64_t>> outputs, F&& f) {
  constexpr size_t kMaxOutputs = 4;
  std::array<float*, kMaxOutputs> parts{};
  const int T = threads_for(n, grain);
  if (T == 1) {
    size_t k = 0;
    for (const auto& o : outputs) parts.at(k++) = o.first;
    f(0, int64_t{0}, n, parts.data());
    return;
  }
  int64_t len = 0;
  for (const auto& o : outputs) len += o.first ? o.second : 0;
  thread_local std::vector<float> buffers;
  buffers.assign(static_cast<size_t>(T * len), 0.0f);
  float* base = buffers.data();
  parallel_ranges_on(T, n, [&](int t, int64_t begin, int64_t end) {
    std::array<float*, kMaxOutputs> mine{};
    float* at = base + t * len;
    size_t k = 0;
    for (const auto& [out, count] : outputs) {
      mine.at(k++) = out ? at : nullptr;
      if (out) at += count;
    }
    f(t, begin, end, mine.data());
  });
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
