#include <vector>

#include "core/cuda/launch.cuh"
#include "core/cuda/loss.cuh"

namespace trainer::cuda {

// One thread per row, with the CPU twin's arithmetic (double accumulation): classifier heads are
// narrow (C = 10 here), and the per-row results are added on the host in row order, as on the CPU.

__device__ int64_t argmax_row(int64_t C, const float* row) {
  int64_t best = 0;
  for (int64_t c = 1; c < C; ++c)
    if (row[c] > row[best]) best = c;
  return best;
}

__global__ void cross_entropy_kernel(int64_t N, int64_t C, const float* logits,
                                     const int32_t* labels, float grad_scale, float* dlogits,
                                     double* loss, int32_t* correct) {
  for (int64_t n = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; n < N;
       n += int64_t{gridDim.x} * blockDim.x) {
    const float* row = logits + n * C;
    const int64_t best = argmax_row(C, row);
    const float mx = row[best];
    double denom = 0.0;
    for (int64_t c = 0; c < C; ++c) denom += exp(static_cast<double>(row[c] - mx));
    const double log_denom = log(denom);
    loss[n] = log_denom - static_cast<double>(row[labels[n]] - mx);
    correct[n] = best == labels[n];
    if (dlogits) {
      float* d = dlogits + n * C;
      for (int64_t c = 0; c < C; ++c) {
        const double p = exp(static_cast<double>(row[c] - mx) - log_denom);
        d[c] = static_cast<float>((p - (c == labels[n] ? 1.0 : 0.0)) * grad_scale);
      }
    }
  }
}

__global__ void mse_kernel(int64_t N, int64_t C, const float* logits, const int32_t* labels,
                           float grad_scale, float* dlogits, double* loss, int32_t* correct) {
  for (int64_t n = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; n < N;
       n += int64_t{gridDim.x} * blockDim.x) {
    const float* row = logits + n * C;
    double sq = 0.0;
    for (int64_t c = 0; c < C; ++c) {
      const double diff = row[c] - (c == labels[n] ? 1.0 : 0.0);
      sq += diff * diff;
      if (dlogits) dlogits[n * C + c] = static_cast<float>(2.0 * diff / C * grad_scale);
    }
    loss[n] = sq / C;
    correct[n] = argmax_row(C, row) == labels[n];
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
  return run_loss(cross_entropy_kernel, N, C, logits, labels, grad_scale, dlogits);
}

LossSums mse_onehot(int64_t N, int64_t C, const float* logits, const int32_t* labels,
                    float grad_scale, float* dlogits) {
  return run_loss(mse_kernel, N, C, logits, labels, grad_scale, dlogits);
}

}  // namespace trainer::cuda
