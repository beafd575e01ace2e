#include <algorithm>

#include "core/cuda/elementwise.cuh"
#include "core/cuda/launch.cuh"
#include "core/cuda/optim.cuh"
#include "core/cuda/scratch.cuh"

namespace trainer::cuda {

namespace {

// Passed by value as a kernel argument (well under the 4 KiB limit).
constexpr int kMaxTensors = 48;
struct Chunk {
  int64_t n[kMaxTensors];
  float* w[kMaxTensors];
  const float* g[kMaxTensors];
  float* s1[kMaxTensors];
  float* s2[kMaxTensors];
  // Blocks [first_block[t], first_block[t + 1]) take tensor t: a share of the grid in proportion
  // to its size (GPT-2's embedding is a third of the model), at least one block each.
  int first_block[kMaxTensors + 1];
};

// The tensor of this block (a scan of at most kMaxTensors entries), then a stride over it by
// the tensor's blocks.
#define FOR_EACH_ELEMENT(c, t, i)                                                         \
  int t = 0;                                                                              \
  while (static_cast<int>(blockIdx.x) >= (c).first_block[t + 1]) ++t;                     \
  const int64_t tensor_blocks = (c).first_block[t + 1] - (c).first_block[t];              \
  for (int64_t i = (blockIdx.x - (c).first_block[t]) * int64_t{blockDim.x} + threadIdx.x; \
       i < (c).n[t]; i += tensor_blocks * blockDim.x)

__global__ void sgd_kernel(Chunk c, const cpu::SgdArgs* args, const int32_t* skip) {
  if (skip && *skip) return;
  const cpu::SgdArgs a = *args;
  FOR_EACH_ELEMENT(c, t, i) {
    float* w = c.w[t];
    float* buf = c.s1[t];
    float d = c.g[t][i] + a.weight_decay * w[i];
    if (a.momentum != 0.0f) {
      buf[i] = a.first_step ? d : a.momentum * buf[i] + d;
      d = a.nesterov ? d + a.momentum * buf[i] : buf[i];
    }
    w[i] -= a.lr * d;
  }
}

__global__ void adam_kernel(Chunk c, const cpu::AdamConstants* constants, const int32_t* skip) {
  if (skip && *skip) return;
  const cpu::AdamConstants k = *constants;
  FOR_EACH_ELEMENT(c, t, i) {
    float* w = c.w[t];
    float* m = c.s1[t];
    float* v = c.s2[t];
    const float grad = c.g[t][i] + k.l2 * w[i];
    m[i] = k.beta1 * m[i] + (1.0f - k.beta1) * grad;
    v[i] = k.beta2 * v[i] + (1.0f - k.beta2) * grad * grad;
    w[i] = w[i] * k.decay - k.step_size * m[i] / (sqrtf(v[i]) * k.inv_sqrt_bc2 + k.eps);
  }
}

// Launches kernel(chunk, args) over the group, kMaxTensors parameters at a time, each launch's
// blocks (about enough to fill the GPU) shared out by the tensors' sizes.
template <class Kernel, class Args>
void launch_chunks(Kernel kernel, const ParamGroup& p, const Args* args, const int32_t* skip) {
  for (size_t first = 0; first < p.n.size(); first += kMaxTensors) {
    const size_t count = std::min<size_t>(kMaxTensors, p.n.size() - first);
    Chunk c{};
    int64_t total = 0;
    for (size_t j = 0; j < count; ++j) total += p.n[first + j];
    if (total == 0) continue;
    const int64_t grid = blocks_for(total);
    for (size_t j = 0; j < count; ++j) {
      const int64_t n = p.n[first + j];
      c.n[j] = n;
      c.w[j] = p.w[first + j];
      c.g[j] = p.g[first + j];
      c.s1[j] = p.state1.empty() ? nullptr : p.state1[first + j];
      c.s2[j] = p.state2.empty() ? nullptr : p.state2[first + j];
      const int64_t share = std::min<int64_t>((n * grid + total - 1) / total, blocks_for(n));
      c.first_block[j + 1] = c.first_block[j] + static_cast<int>(share);
    }
    launch(kernel, static_cast<unsigned>(c.first_block[count]), kThreads, 0, c, args, skip);
  }
}

}  // namespace

// Adds the blocks' partial sums of squares in block order, as the host's sum_squares does, and
// decides.
__global__ void decide_kernel(unsigned blocks, const double* partial, const double* loss_sums,
                              double unscale, double max_norm, cpu::UpdateDecision* out) {
  double sq = 0.0;
  for (unsigned b = 0; b < blocks; ++b) sq += partial[b];
  *out = cpu::update_decision_with(sq, loss_sums, unscale, max_norm);
}

void sgd_update(const ParamGroup& p, const cpu::SgdArgs* a, const int32_t* skip) {
  launch_chunks(sgd_kernel, p, a, skip);
}

void adam_update(const ParamGroup& p, const cpu::AdamConstants* k, const int32_t* skip) {
  launch_chunks(adam_kernel, p, k, skip);
}

void decide_update(int64_t n, const float* g, const double* loss_sums, double unscale,
                   double max_norm, cpu::UpdateDecision* out) {
  const unsigned blocks = blocks_for(n);
  const Scratch partial(blocks * sizeof(double));
  sum_squares_partials(n, g, partial.get<double>());
  launch(decide_kernel, 1, 1, 0, blocks, partial.get<double>(), loss_sums, unscale, max_norm, out);
}

}  // namespace trainer::cuda
