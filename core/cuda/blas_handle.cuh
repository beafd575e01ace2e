// The backend's one cuBLAS handle, on the compute stream, FP32 math (no TF32): for the .cu files
// that call cuBLAS beside linear.cu (attention). Device code only.
#pragma once

#include <cublas_v2.h>

namespace trainer::cuda {

cublasHandle_t blas_handle();

}  // namespace trainer::cuda
