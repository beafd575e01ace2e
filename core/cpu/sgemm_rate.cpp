#include "core/cpu/sgemm_rate.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <vector>

#include "core/cpu/blas.h"

namespace trainer::cpu {

double measure_sgemm_flops(int threads, int64_t n, int rounds, int reps) {
  const auto size = static_cast<size_t>(n * n);
  std::vector<std::vector<float>> a(threads, std::vector<float>(size, 0.5f)),
      b(threads, std::vector<float>(size, 0.25f)), c(threads, std::vector<float>(size));
  double best = 0.0;
  for (int r = 0; r < rounds; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel num_threads(threads)
    {
      const int t = omp_get_thread_num();
      for (int k = 0; k < reps; ++k)
        gemm(false, false, n, n, n, 1.0f, a[t].data(), b[t].data(), 0.0f, c[t].data());
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, 2.0 * static_cast<double>(n * n * n) * reps * threads / s);
  }
  return best;
}

}  // namespace trainer::cpu
