// GPU buffers through host memory, for the MPI communicator (which takes host buffers only).
//
// Used where NCCL cannot be: several ranks sharing one GPU, or a pipeline's activations. The
// copy to the host waits for the compute stream's work on the buffer; the copy back happens when
// the operation is waited on, on the waiting thread (the one that owns the CUDA device).
#pragma once

#include <cstddef>
#include <memory>

#include "parallel/communicator.h"

namespace trainer {

class HostStaging {
 public:
  // True for device memory (always false in a build without CUDA).
  static bool needed(const void* p);
  // A page-locked host buffer of `bytes`, holding a copy of `device` when copy_in.
  HostStaging(const void* device, size_t bytes, bool copy_in);
  ~HostStaging();
  HostStaging(const HostStaging&) = delete;
  HostStaging& operator=(const HostStaging&) = delete;
  void* data() const { return host_; }
  // Copies the host buffer to `device`.
  void copy_out(void* device) const;

 private:
  void* host_;
  [[maybe_unused]] size_t bytes_;  // read only where CUDA is built
};

// Wraps the Work of an operation on a staged buffer: keeps the buffer alive until the operation
// is done, and copies the result to `device_result` (when not null) in wait().
std::unique_ptr<Work> staged_work(std::unique_ptr<Work> inner, std::shared_ptr<HostStaging> buffer,
                                  void* device_result);

}  // namespace trainer
