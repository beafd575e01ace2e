// CUDA events made once and reused: creating one per use (an upload, a timed layer pass) would
// cost more than recording it. Thread-safe. Device code only (.cu files).
#pragma once

#include <cuda_runtime.h>

#include <mutex>
#include <vector>

#include "core/check.h"

namespace trainer::cuda {

class EventPool {
 public:
  // `flags`: cudaEventDefault (timing), or cudaEventDisableTiming (ordering only, cheaper).
  explicit EventPool(unsigned flags) : flags_(flags) {}

  cudaEvent_t take() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!idle_.empty()) {
        cudaEvent_t e = idle_.back();
        idle_.pop_back();
        return e;
      }
    }
    cudaEvent_t e = nullptr;
    CUDA_CHECK(cudaEventCreateWithFlags(&e, flags_));
    return e;
  }

  void give(cudaEvent_t e) {
    std::lock_guard<std::mutex> lock(mu_);
    idle_.push_back(e);
  }

 private:
  unsigned flags_;
  std::mutex mu_;
  std::vector<cudaEvent_t> idle_;
};

}  // namespace trainer::cuda
