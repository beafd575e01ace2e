// The machine's SGEMM rate as trainer's CPU kernels get it (core/cpu/sgemm_rate.h): each of T
// threads multiplying its own 1024 x 1024 matrices. Prints one JSON line: {"threads": T,
// "gflops": best of 5 rounds, all threads}.
//
//   bench/sgemm_peak THREADS
#include <cstdio>
#include <cstdlib>

#include "core/cpu/sgemm_rate.h"

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 1;
  const double flops = trainer::cpu::measure_sgemm_flops(threads, 1024, 5, 8);
  std::printf("{\"threads\": %d, \"gflops\": %.2f}\n", threads, flops / 1e9);
}
