// The machine's SGEMM rate as trainer's CPU kernels get it: OpenBLAS single-threaded inside each
// of `threads` OpenMP threads (core/cpu/parallel.h), each multiplying its own n x n matrices.
// The peak a CPU run's MFU is measured against, and what bench/sgemm_peak prints.
#pragma once

#include <cstdint>

namespace trainer::cpu {

// FLOP/s of all the threads together, the best of `rounds` rounds of `reps` products each.
double measure_sgemm_flops(int threads, int64_t n, int rounds, int reps);

}  // namespace trainer::cpu
