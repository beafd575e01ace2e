// Communicator over MPI, for CPU buffers, and GPU buffers staged through the host
// (parallel/host_staging.h).
//
// MPI calls run on one thread, the MPI thread, fed through a queue: an asynchronous all-reduce
// then truly proceeds while the caller computes (Open MPI makes no progress on a non-blocking
// collective between MPI calls). A message of at most kInlineBytes runs on the caller's thread
// instead when the MPI thread is idle: for those, the ~10 us hand-over between threads would
// cost more than the all-reduce (measured: 4 KiB at 28% of raw MPI bandwidth through the queue).
// Sends and receives are posted (MPI_Isend / MPI_Irecv) and then tested by the MPI thread while
// it has nothing queued, so a pipeline's transfers proceed while both ranks compute.
#pragma once

#include <functional>
#include <memory>
#include <vector>

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
  using Communicator::all_reduce;  // the typed form (f32 only)
  void broadcast(void* data, int64_t bytes, int root) override;
  std::unique_ptr<Work> reduce_scatter_in_place_async(float* data,
                                                      const std::vector<int64_t>& counts) override;
  std::unique_ptr<Work> all_gather_in_place_async(void* data, const std::vector<int64_t>& counts,
                                                  DType dtype) override;
  void all_gather(const void* send, int64_t bytes, void* recv) override;
  void barrier() override;
  std::unique_ptr<Work> send_async(const void* data, int64_t bytes, int peer, int tag) override;
  std::unique_ptr<Work> recv_async(void* data, int64_t bytes, int peer, int tag) override;

  // The ranks of this communicator with the same `color`, ordered by rank (MPI_Comm_split).
  std::unique_ptr<MpiCommunicator> split(int color);

  // A collective running longer than this ends the job with a message naming the rank and the
  // operation (parallel.timeout_s; 300 s until the config is read).
  void set_timeout(double seconds);

  // Ends the whole job now (MPI_Abort), from any thread.
  [[noreturn]] static void abort_job(int exit_code);

 private:
  MpiCommunicator(std::shared_ptr<MpiRuntime> runtime, std::unique_ptr<MpiCommHandle> comm);
  static constexpr int64_t kInlineBytes = 256 << 10;
  // Runs op on the MPI thread, or inline (see above) when it moves at most `bytes`, under the
  // collective watchdog with `name` as the operation it reports. A template (defined and used in
  // the .cpp only) so the inline path builds no std::function: at 4 KiB an allocation is a
  // visible share of the all-reduce.
  // `peer`: the world rank a send or receive waits on, for the watchdog's message.
  template <class Op>
  std::unique_ptr<Work> submit(const char* name, Op&& op, int64_t bytes = 0, int peer = -1);
  template <class Op>
  void run(const char* name, Op&& op, int peer = -1);
  // Posts a send or receive (`issue` fills in its MPI_Request) for the MPI thread to progress.
  template <class Post>
  std::unique_ptr<Work> post(const char* name, int peer, Post&& issue);
  friend class RequestWork;

  std::shared_ptr<MpiRuntime> runtime_;
  std::unique_ptr<MpiCommHandle> comm_;  // the MPI_Comm, kept out of this header
  int rank_ = 0, size_ = 1;
  std::vector<int> world_ranks_;  // of this communicator's ranks, for messages
};

}  // namespace trainer
