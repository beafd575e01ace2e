// The machine's SGEMM rate as trainer's CPU kernels get it: OpenBLAS single-threaded inside each
// of T OpenMP threads (core/cpu/parallel.h), each thread multiplying its own 1024 x 1024
// matrices. Prints one JSON line: {"threads": T, "gflops": best of 5 rounds, all threads}.
//
//   bench/sgemm_peak THREADS
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "core/cpu/blas.h"

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 1;
  constexpr int64_t n = 1024, rounds = 5, reps = 8;
  std::vector<std::vector<float>> a(threads, std::vector<float>(n * n, 0.5f)),
      b(threads, std::vector<float>(n * n, 0.25f)), c(threads, std::vector<float>(n * n));
  double best = 0.0;
  for (int r = 0; r < rounds; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel num_threads(threads)
    {
      const int t = omp_get_thread_num();
      for (int k = 0; k < reps; ++k)
        trainer::cpu::gemm(false, false, n, n, n, 1.0f, a[t].data(), b[t].data(), 0.0f,
                           c[t].data());
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, 2.0 * n * n * n * reps * threads / s / 1e9);
  }
  std::printf("{\"threads\": %d, \"gflops\": %.2f}\n", threads, best);
}
