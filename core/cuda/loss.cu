#include <vector>

#include "core/cpu/loss_rows.h"
#include "core/cuda/launch.cuh"
#include "core/cuda/loss.cuh"

namespace trainer::cuda {

// One thread per row running the CPU twin's row function (core/cpu/loss_rows.h): classifier heads
// are narrow (C = 10 here), and the rows' results are added on the host in row order, as on the
// CPU, so the two agree to the last bit but for exp/log's rounding.
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

// Runs one of the kernels above into per-row buffers and adds the rows up on the host.
template <class Kernel>
static LossSums run_loss(Kernel kernel, int64_t N, int64_t C, const float* logits,
                         const int32_t* labels, float grad_scale, float* dlogits) {
  LossSums s;
  if (N == 0) return s;
  const size_t bytes = static_cast<size_t>(N) * (sizeof(double) + sizeof(int32_t));
  char* rows = static_cast<char*>(device_allocate(bytes));
  double* loss = reinterpret_cast<double*>(rows);
  int32_t* correct = reinterpret_cast<int32_t*>(rows + N * sizeof(double));
  kernel<<<blocks_for(N), kThreads, 0, stream()>>>(N, C, logits, labels, grad_scale, dlogits, loss,
                                                   correct);
  TRAINER_CHECK_LAUNCH();
  std::vector<char> host(bytes);
  copy(host.data(), rows, bytes);
  device_free(rows, bytes);
  const double* hl = reinterpret_cast<const double*>(host.data());
  const int32_t* hc = reinterpret_cast<const int32_t*>(host.data() + N * sizeof(double));
  for (int64_t n = 0; n < N; ++n) {
    s.loss += hl[n];
    s.correct += hc[n];
  }
  return s;
}

LossSums softmax_cross_entropy(int64_t N, int64_t C, const float* logits, const int32_t* labels,
                               float grad_scale, float* dlogits) {
  return run_loss(loss_kernel<cpu::cross_entropy_row>, N, C, logits, labels, grad_scale, dlogits);
}

LossSums mse_onehot(int64_t N, int64_t C, const float* logits, const int32_t* labels,
                    float grad_scale, float* dlogits) {
  return run_loss(loss_kernel<cpu::mse_row>, N, C, logits, labels, grad_scale, dlogits);
}

}  // namespace trainer::cuda
