#include <cuda_runtime.h>

#include "core/cuda/event_pool.cuh"
#include "core/cuda/launch.cuh"
#include "core/cuda/timing.cuh"

namespace trainer::cuda {
namespace {

// Never destroyed: marks may be released at static teardown.
EventPool& marks() {
  static EventPool* p = new EventPool(cudaEventDefault);
  return *p;
}

}  // namespace

void* record_mark() {
  cudaEvent_t e = marks().take();
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

void release_mark(void* mark) { marks().give(static_cast<cudaEvent_t>(mark)); }

}  // namespace trainer::cuda
