#include "parallel/nccl_communicator.h"

#include <cuda_runtime.h>
#include <nccl.h>

#include <chrono>
#include <string>
#include <thread>

#include "core/check.h"
#include "core/cuda/runtime.cuh"
#include "parallel/mpi_communicator.h"

namespace trainer {

using Clock = std::chrono::steady_clock;

struct NcclState {
  ncclComm_t comm = nullptr;
  cudaStream_t stream = nullptr;
  double timeout_s = 300;
  int rank = 0;

  // A non-blocking communicator answers ncclInProgress until an operation is enqueued (or the
  // communicator is up); waits for that, under the timeout.
  void settle(ncclResult_t r, const char* op) {
    const auto start = Clock::now();
    while (r == ncclInProgress) {
      check_time(start, op);
      std::this_thread::yield();
      ncclCommGetAsyncError(comm, &r);
    }
    NCCL_CHECK(r);
  }

  // Whether parallel.timeout_s has passed since start (never, when it is 0).
  bool expired(Clock::time_point start) const {
    return timeout_s > 0 &&
           std::chrono::duration<double>(Clock::now() - start).count() >= timeout_s;
  }

  void check_time(Clock::time_point start, const char* op) {
    if (!expired(start)) return;
    // The operation cannot finish without the missing rank: abort the communicator, so no
    // kernel keeps spinning on the GPU, and end the job through the launcher.
    ncclCommAbort(comm);
    comm = nullptr;
    throw DeviceError("rank " + std::to_string(rank) + ": NCCL " + op +
                      " did not complete within " + std::to_string(static_cast<int>(timeout_s)) +
                      " s (parallel.timeout_s): another rank is lost or stalled");
  }
};

namespace {

// One all-reduce queued on NCCL's stream; complete when its event is.
class NcclWork : public Work {
 public:
  NcclWork(NcclState& s, cudaEvent_t done) : s_(s), done_(done), start_(Clock::now()) {}
  ~NcclWork() override { cudaEventDestroy(done_); }
  void wait() override {
    while (!done()) {
      ncclResult_t r = ncclSuccess;
      if (s_.comm) ncclCommGetAsyncError(s_.comm, &r);
      if (r != ncclSuccess && r != ncclInProgress) NCCL_CHECK(r);
      s_.check_time(start_, "all-reduce");
      std::this_thread::sleep_for(std::chrono::microseconds(20));
    }
  }
  bool done() const override {
    if (finished_) return true;
    const cudaError_t e = cudaEventQuery(done_);
    if (e == cudaErrorNotReady) return false;
    CUDA_CHECK(e);
    finished_ = true;
    finished_at_ = trace::Clock::now();  // as first seen by the host
    return true;
  }
  trace::Clock::time_point finished_at() const override { return finished_at_; }

 private:
  NcclState& s_;
  cudaEvent_t done_;
  Clock::time_point start_;
  mutable bool finished_ = false;
  mutable trace::Clock::time_point finished_at_{};
};

}  // namespace

NcclCommunicator::NcclCommunicator(std::unique_ptr<MpiCommunicator> host, double timeout_s)
    : host_(std::move(host)), nccl_(std::make_unique<NcclState>()) {
  nccl_->timeout_s = timeout_s;
  nccl_->rank = host_->rank();
  ncclUniqueId id{};
  if (host_->rank() == 0) NCCL_CHECK(ncclGetUniqueId(&id));
  host_->broadcast(&id, sizeof id, 0);
  ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
  config.blocking = 0;
  nccl_->settle(ncclCommInitRankConfig(&nccl_->comm, host_->size(), id, host_->rank(), &config),
                "communicator start");
  CUDA_CHECK(cudaStreamCreateWithFlags(&nccl_->stream, cudaStreamNonBlocking));
}

NcclCommunicator::~NcclCommunicator() {
  if (nccl_->comm) {
    // Finalize flushes what is in flight; on a non-blocking communicator it completes later,
    // or never when a peer is gone: waited for under the timeout, then the communicator is
    // aborted (a destructor must end, and must not throw).
    ncclResult_t r = ncclCommFinalize(nccl_->comm);
    const auto start = Clock::now();
    while (r == ncclInProgress && !nccl_->expired(start)) {
      std::this_thread::yield();
      ncclCommGetAsyncError(nccl_->comm, &r);
    }
    if (r == ncclSuccess)
      ncclCommDestroy(nccl_->comm);
    else
      ncclCommAbort(nccl_->comm);
  }
  if (nccl_->stream) cudaStreamDestroy(nccl_->stream);
}

int NcclCommunicator::rank() const { return host_->rank(); }
int NcclCommunicator::size() const { return host_->size(); }

// Issues `launch` (NCCL calls on `stream`) once the compute stream has produced its inputs; the
// Work completes when NCCL's stream is done with them.
template <class Launch>
static std::unique_ptr<Work> on_nccl_stream(NcclState& nccl, const char* what, Launch&& launch) {
  if (!nccl.comm) throw DeviceError("the NCCL communicator was aborted");
  cudaEvent_t ready = nullptr, done = nullptr;
  CUDA_CHECK(cudaEventCreateWithFlags(&ready, cudaEventDisableTiming));
  CUDA_CHECK(cudaEventCreateWithFlags(&done, cudaEventDisableTiming));
  CUDA_CHECK(cudaEventRecord(ready, static_cast<cudaStream_t>(cuda::compute_stream())));
  CUDA_CHECK(cudaStreamWaitEvent(nccl.stream, ready, 0));
  CUDA_CHECK(cudaEventDestroy(ready));  // released once the wait is done, as CUDA allows
  nccl.settle(launch(), what);
  CUDA_CHECK(cudaEventRecord(done, nccl.stream));
  return std::make_unique<NcclWork>(nccl, done);
}

static ncclDataType_t nccl_type(DType dtype) {
  return dtype == DType::F16 ? ncclHalf : dtype == DType::BF16 ? ncclBfloat16 : ncclFloat;
}

bool NcclCommunicator::reduces_in(DType dtype) const {
  return dtype == DType::F32 || dtype == DType::F16 || dtype == DType::BF16;
}

// Host buffers go through the MPI communicator, which reduces f32 only.
void NcclCommunicator::all_reduce(void* data, int64_t n, DType dtype, ReduceOp op) {
  if (!cuda::is_device_pointer(data)) return host_->all_reduce(data, n, dtype, op);
  on_nccl_stream(*nccl_, "all-reduce", [&] {
    return ncclAllReduce(data, data, static_cast<size_t>(n), nccl_type(dtype),
                         op == ReduceOp::Sum ? ncclSum : ncclMax, nccl_->comm, nccl_->stream);
  })->wait();
}

std::unique_ptr<Work> NcclCommunicator::all_reduce_async(float* data, int64_t n, ReduceOp op) {
  if (!cuda::is_device_pointer(data)) return host_->all_reduce_async(data, n, op);
  return on_nccl_stream(*nccl_, "all-reduce", [&] {
    return ncclAllReduce(data, data, static_cast<size_t>(n), ncclFloat,
                         op == ReduceOp::Sum ? ncclSum : ncclMax, nccl_->comm, nccl_->stream);
  });
}

// Shares of unequal size: one reduce (or broadcast) rooted at each rank, each in place at its
// share, in one NCCL group.
std::unique_ptr<Work> NcclCommunicator::reduce_scatter_in_place_async(
    float* data, const std::vector<int64_t>& counts) {
  if (!cuda::is_device_pointer(data)) return host_->reduce_scatter_in_place_async(data, counts);
  return on_nccl_stream(*nccl_, "reduce-scatter", [&] {
    ncclGroupStart();
    int64_t offset = 0;
    for (int r = 0; r < size(); ++r) {
      ncclReduce(data + offset, data + offset, static_cast<size_t>(counts.at(r)), ncclFloat,
                 ncclSum, r, nccl_->comm, nccl_->stream);
      offset += counts[r];
    }
    return ncclGroupEnd();
  });
}

std::unique_ptr<Work> NcclCommunicator::all_gather_in_place_async(
    void* data, const std::vector<int64_t>& counts, DType dtype) {
  if (!cuda::is_device_pointer(data)) return host_->all_gather_in_place_async(data, counts, dtype);
  const ncclDataType_t type = nccl_type(dtype);
  char* bytes = static_cast<char*>(data);
  return on_nccl_stream(*nccl_, "all-gather", [&] {
    ncclGroupStart();
    size_t offset = 0;  // in bytes
    for (int r = 0; r < size(); ++r) {
      ncclBroadcast(bytes + offset, bytes + offset, static_cast<size_t>(counts.at(r)), type, r,
                    nccl_->comm, nccl_->stream);
      offset += static_cast<size_t>(counts[r]) * dtype_size(dtype);
    }
    return ncclGroupEnd();
  });
}

void NcclCommunicator::all_reduce(float* data, int64_t n, ReduceOp op) {
  all_reduce_async(data, n, op)->wait();
}
void NcclCommunicator::all_reduce(double* data, int64_t n, ReduceOp op) {
  host_->all_reduce(data, n, op);
}
void NcclCommunicator::all_reduce(int64_t* data, int64_t n, ReduceOp op) {
  host_->all_reduce(data, n, op);
}
void NcclCommunicator::broadcast(void* data, int64_t bytes, int root) {
  host_->broadcast(data, bytes, root);
}
void NcclCommunicator::all_gather(const void* send, int64_t bytes, void* recv) {
  host_->all_gather(send, bytes, recv);
}
void NcclCommunicator::barrier() { host_->barrier(); }
std::unique_ptr<Work> NcclCommunicator::send_async(const void* data, int64_t bytes, int peer,
                                                   int tag) {
  return host_->send_async(data, bytes, peer, tag);
}
std::unique_ptr<Work> NcclCommunicator::recv_async(void* data, int64_t bytes, int peer, int tag) {
  return host_->recv_async(data, bytes, peer, tag);
}

}  // namespace trainer
