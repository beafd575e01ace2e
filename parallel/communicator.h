// Collective communication among the ranks of one group (a process-grid axis, or the world).
//
// The asynchronous form returns a Work handle to wait on; the blocking forms are the
// asynchronous ones waited on at once. Implementations: MpiCommunicator (CPU tensors); the NCCL
// one of the CUDA backend fits the same interface.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "core/trace.h"

namespace trainer {

enum class ReduceOp { Sum, Max };

// A communication in flight.
class Work {
 public:
  virtual ~Work() = default;
  // Blocks until the operation completed; rethrows its error.
  virtual void wait() = 0;
  virtual bool done() const = 0;
  // Withdraws a posted receive not yet matched (an error is ending the step, and its message may
  // never come); afterwards the operation is no longer in flight. Nothing to do for others.
  virtual void cancel() {}
  // When the operation completed; valid once done() or wait() returned (the end of its span on
  // the timeline).
  virtual trace::Clock::time_point finished_at() const = 0;
};

// A Work that is already complete (for operations that ran at once).
std::unique_ptr<Work> completed_work();

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;

  virtual std::unique_ptr<Work> all_reduce_async(float* data, int64_t n, ReduceOp op) = 0;
  virtual void all_reduce(float* data, int64_t n, ReduceOp op) = 0;
  virtual void all_reduce(double* data, int64_t n, ReduceOp op) = 0;
  virtual void all_reduce(int64_t* data, int64_t n, ReduceOp op) = 0;
  // An all-reduce in the buffer's own precision, for the dtypes reduces_in() accepts: f32
  // everywhere, and f16/bf16 over NCCL (the tensor group's activations, summed in 16 bits as
  // Megatron does). A caller holding another dtype widens it to f32 first.
  virtual bool reduces_in(DType dtype) const { return dtype == DType::F32; }
  virtual void all_reduce(void* data, int64_t n, DType dtype, ReduceOp op);
  virtual void broadcast(void* data, int64_t bytes, int root) = 0;
  // ZeRO's halves; `counts` holds every rank's share of a range, back to back in rank order.
  // Reduce-scatter (sum) in place: `data` holds the whole range; afterwards rank r's share of
  // it holds the sums over the ranks, and the rest of `data` is undefined (no second buffer:
  // under ZeRO the point is memory).
  virtual std::unique_ptr<Work> reduce_scatter_in_place_async(
      float* data, const std::vector<int64_t>& counts) = 0;
  // All-gather in place: `data` holds the whole range of `dtype` elements (f32, or the 16-bit
  // compute copies of ZeRO's gather); every rank's own share is copied into the others' `data`.
  virtual std::unique_ptr<Work> all_gather_in_place_async(void* data,
                                                          const std::vector<int64_t>& counts,
                                                          DType dtype) = 0;
  void all_gather_in_place(void* data, const std::vector<int64_t>& counts, DType dtype) {
    all_gather_in_place_async(data, counts, dtype)->wait();
  }
  // recv holds size() blocks of `bytes`, block r from rank r.
  virtual void all_gather(const void* send, int64_t bytes, void* recv) = 0;
  virtual void barrier() = 0;

  // Point to point, between the ranks of this group (pipeline stages). Both return at once:
  // `data` must stay untouched (a send's) or unread (a receive's) until the Work is done, and
  // the transfer proceeds in the background meanwhile, so a receive posted early costs its
  // waiter nothing once the message is in. Messages between two ranks with one tag arrive in the
  // order sent.
  virtual std::unique_ptr<Work> send_async(const void* data, int64_t bytes, int peer, int tag) = 0;
  virtual std::unique_ptr<Work> recv_async(void* data, int64_t bytes, int peer, int tag) = 0;
  void recv(void* data, int64_t bytes, int peer, int tag) {
    recv_async(data, bytes, peer, tag)->wait();
  }
};

// The communicator of a single process: every collective is the identity.
class SelfCommunicator : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::unique_ptr<Work> all_reduce_async(float*, int64_t, ReduceOp) override;
  void all_reduce(float*, int64_t, ReduceOp) override {}
  void all_reduce(double*, int64_t, ReduceOp) override {}
  void all_reduce(int64_t*, int64_t, ReduceOp) override {}
  using Communicator::all_reduce;  // the typed form
  void broadcast(void*, int64_t, int) override {}
  std::unique_ptr<Work> reduce_scatter_in_place_async(float*, const std::vector<int64_t>&) override;
  std::unique_ptr<Work> all_gather_in_place_async(void*, const std::vector<int64_t>&,
                                                  DType) override;
  void all_gather(const void* send, int64_t bytes, void* recv) override;
  void barrier() override {}
  // A single process has no peer: a call is a bug in the caller.
  std::unique_ptr<Work> send_async(const void*, int64_t, int peer, int) override;
  std::unique_ptr<Work> recv_async(void*, int64_t, int peer, int) override;
};

}  // namespace trainer
