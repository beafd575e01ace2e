#include "parallel/host_staging.h"

#include <stdexcept>

#ifdef TRAINER_HAS_CUDA
#include "core/cuda/runtime.cuh"
#endif

namespace trainer {

#ifdef TRAINER_HAS_CUDA
bool HostStaging::needed(const void* p) { return cuda::is_device_pointer(p); }

HostStaging::HostStaging(const void* device, size_t bytes, bool copy_in)
    : host_(cuda::pinned_allocate(bytes)), bytes_(bytes) {
  if (copy_in) cuda::copy(host_, device, bytes);
}

HostStaging::~HostStaging() { cuda::pinned_free(host_, bytes_); }

// Synchronous: the buffer goes back to the pinned cache when this object dies, and the next
// owner may write into it from the host (an MPI receive) at once.
void HostStaging::copy_out(void* device) const {
  cuda::copy(device, host_, bytes_);
  cuda::synchronize();
}
#else
// Nothing is ever on a device here; the class exists so callers need no #ifdef.
bool HostStaging::needed(const void*) { return false; }
HostStaging::HostStaging(const void*, size_t bytes, bool) : host_(nullptr), bytes_(bytes) {
  throw std::logic_error("host staging in a build without CUDA");
}
HostStaging::~HostStaging() = default;
void HostStaging::copy_out(void*) const {}
#endif

namespace {

class StagedWork : public Work {
 public:
  StagedWork(std::unique_ptr<Work> inner, std::shared_ptr<HostStaging> buffer, void* result)
      : inner_(std::move(inner)), buffer_(std::move(buffer)), result_(result) {}
  void wait() override {
    inner_->wait();
    if (result_) {
      buffer_->copy_out(result_);
      result_ = nullptr;
    }
  }
  bool done() const override { return inner_->done(); }
  void cancel() override {
    inner_->cancel();
    result_ = nullptr;  // nothing arrived to copy back
  }
  trace::Clock::time_point finished_at() const override { return inner_->finished_at(); }

 private:
  std::unique_ptr<Work> inner_;
  std::shared_ptr<HostStaging> buffer_;
  void* result_;
};

}  // namespace

std::unique_ptr<Work> staged_work(std::unique_ptr<Work> inner, std::shared_ptr<HostStaging> buffer,
                                  void* device_result) {
  return std::make_unique<StagedWork>(std::move(inner), std::move(buffer), device_result);
}

}  // namespace trainer
