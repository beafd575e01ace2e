// Communicator over MPI, for CPU buffers.
//
// Every MPI call of the process runs on one thread, the MPI thread, fed through a queue: an
// asynchronous all-reduce then truly proceeds while the caller computes (Open MPI makes no
// progress on a non-blocking collective between MPI calls), and MPI needs no thread support
// beyond MPI_THREAD_FUNNELED.
#pragma once

#include <functional>
#include <memory>

#include "parallel/communicator.h"

namespace trainer {

class MpiRuntime;
struct MpiCommHandle;

class MpiCommunicator : public Communicator {
 public:
  // The world communicator; starts MPI (on the MPI thread) the first time.
  static std::unique_ptr<MpiCommunicator> world();
  ~MpiCommunicator() override;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::unique_ptr<Work> all_reduce_async(float* data, int64_t n, ReduceOp op) override;
  void all_reduce(float* data, int64_t n, ReduceOp op) override;
  void all_reduce(double* data, int64_t n, ReduceOp op) override;
  void all_reduce(int64_t* data, int64_t n, ReduceOp op) override;
  void broadcast(void* data, int64_t bytes, int root) override;
  void all_gather(const void* send, int64_t bytes, void* recv) override;
  void barrier() override;

  // The ranks of this communicator with the same `color`, ordered by rank (MPI_Comm_split).
  std::unique_ptr<MpiCommunicator> split(int color);

  // Ends the whole job now (MPI_Abort), from any thread.
  [[noreturn]] static void abort_job(int exit_code);

 private:
  MpiCommunicator(std::shared_ptr<MpiRuntime> runtime, std::unique_ptr<MpiCommHandle> comm);
  std::unique_ptr<Work> submit(std::function<void()> op);
  void run(std::function<void()> op) { submit(std::move(op))->wait(); }

  std::shared_ptr<MpiRuntime> runtime_;
  std::unique_ptr<MpiCommHandle> comm_;  // the MPI_Comm, kept out of this header
  int rank_ = 0, size_ = 1;
};

}  // namespace trainer
