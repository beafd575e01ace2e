#include <cuda_runtime.h>

#include <mutex>
#include <vector>

#include "core/cuda/launch.cuh"
#include "core/cuda/timing.cuh"

namespace trainer::cuda {
namespace {

// Events are created once and reused: creating one per layer pass would cost more than
// recording it.
struct MarkPool {
  std::mutex mu;
  std::vector<cudaEvent_t> idle;
};

MarkPool& pool() {
  static MarkPool* p = new MarkPool;  // never destroyed: marks may be released at teardown
  return *p;
}

}  // namespace

void* record_mark() {
  cudaEvent_t e = nullptr;
  {
    std::lock_guard<std::mutex> lock(pool().mu);
    if (!pool().idle.empty()) {
      e = pool().idle.back();
      pool().idle.pop_back();
    }
  }
  if (!e) CUDA_CHECK(cudaEventCreate(&e));
  CUDA_CHECK(cudaEventRecord(e, stream()));
  return e;
}

float elapsed_ms(void* begin, void* end) {
  CUDA_CHECK(cudaEventSynchronize(static_cast<cudaEvent_t>(end)));
  float ms = 0.0f;
  CUDA_CHECK(
      cudaEventElapsedTime(&ms, static_cast<cudaEvent_t>(begin), static_cast<cudaEvent_t>(end)));
  return ms;
}

void release_mark(void* mark) {
  std::lock_guard<std::mutex> lock(pool().mu);
  pool().idle.push_back(static_cast<cudaEvent_t>(mark));
}

}  // namespace trainer::cuda
