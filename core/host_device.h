// TRAINER_HD marks an inline function that runs on the host and on the GPU: a kernel's per-row or
// per-window arithmetic written once, so the CPU twin and the CUDA kernel compute the same thing
// and differ only in how the work is split.
#pragma once

#ifdef __CUDACC__
#define TRAINER_HD __host__ __device__
#else
#define TRAINER_HD
#endif
