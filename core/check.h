// Check macros for the calls of CUDA, cuBLAS, cuDNN, NCCL and MPI.
//
// One generator macro makes all five, and all report through one function that throws a
// DeviceError naming the library, the failing call, its file and line, and this process's rank.
// The macros only name the libraries' functions when expanded, so this header includes none of
// their headers: a .cpp that never calls CUDA can include it on a CPU-only build.
#pragma once

#include <stdexcept>
#include <string>

namespace trainer {

// A call into CUDA, cuBLAS, cuDNN, NCCL or MPI failed. Exit code 1.
class DeviceError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The rank named in the messages (-1 until the launcher knows it).
void set_error_rank(int rank);

// Throws DeviceError: "<library> error <code> (<text>) in <call> at <file>:<line> on rank <r>".
[[noreturn]] void report_call_failure(const char* library, long code, const std::string& text,
                                      const char* call, const char* file, int line);

// MPI's text for an error code (defined with the MPI communicator, the only MPI user).
std::string mpi_error_text(int code);

}  // namespace trainer

#define TRAINER_CHECK_CALL(library, call, ok, describe)                                     \
  do {                                                                                      \
    const auto trainer_status_ = (call);                                                    \
    if (trainer_status_ != (ok))                                                            \
      ::trainer::report_call_failure(library, static_cast<long>(trainer_status_),           \
                                     describe(trainer_status_), #call, __FILE__, __LINE__); \
  } while (0)

#define CUDA_CHECK(call) TRAINER_CHECK_CALL("CUDA", call, cudaSuccess, cudaGetErrorString)
#define CUBLAS_CHECK(call) \
  TRAINER_CHECK_CALL("cuBLAS", call, CUBLAS_STATUS_SUCCESS, cublasGetStatusString)
#define CUDNN_CHECK(call) \
  TRAINER_CHECK_CALL("cuDNN", call, CUDNN_STATUS_SUCCESS, cudnnGetErrorString)
#define NCCL_CHECK(call) TRAINER_CHECK_CALL("NCCL", call, ncclSuccess, ncclGetErrorString)
#define MPI_CHECK(call) TRAINER_CHECK_CALL("MPI", call, MPI_SUCCESS, ::trainer::mpi_error_text)
