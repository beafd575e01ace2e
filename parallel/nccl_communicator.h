// Communicator over NCCL for GPU buffers, one GPU per rank.
//
// Bootstrapped over MPI: rank 0 makes the ncclUniqueId and broadcasts it. Collectives on device
// buffers run on NCCL's own stream, ordered after the compute stream's work with an event, so the
// GradReducer's bucket all-reduces overlap the rest of backward. Host buffers (loss sums, flags,
// checkpoint agreement) go to the MPI communicator of the same ranks.
//
// NCCL has no timeout of its own: the communicator is non-blocking, and a wait that runs past
// parallel.timeout_s aborts it and throws, naming this rank and the operation.
#pragma once

#include <memory>

#include "parallel/communicator.h"

namespace trainer {

class MpiCommunicator;
struct NcclState;

class NcclCommunicator : public Communicator {
 public:
  NcclCommunicator(std::unique_ptr<MpiCommunicator> host, double timeout_s);
  ~NcclCommunicator() override;

  int rank() const override;
  int size() const override;
  std::unique_ptr<Work> all_reduce_async(float* data, int64_t n, ReduceOp op) override;
  void all_reduce(float* data, int64_t n, ReduceOp op) override;
  void all_reduce(double* data, int64_t n, ReduceOp op) override;
  void all_reduce(int64_t* data, int64_t n, ReduceOp op) override;
  bool reduces_in(DType dtype) const override;
  void all_reduce(void* data, int64_t n, DType dtype, ReduceOp op) override;
  void broadcast(void* data, int64_t bytes, int root) override;
  std::unique_ptr<Work> reduce_scatter_in_place_async(float* data,
                                                      const std::vector<int64_t>& counts) override;
  std::unique_ptr<Work> all_gather_in_place_async(void* data, const std::vector<int64_t>& counts,
                                                  DType dtype) override;
  void all_gather(const void* send, int64_t bytes, void* recv) override;
  void barrier() override;
  std::unique_ptr<Work> send_async(const void* data, int64_t bytes, int peer, int tag) override;
  std::unique_ptr<Work> recv_async(void* data, int64_t bytes, int peer, int tag) override;

 private:
  std::unique_ptr<MpiCommunicator> host_;
  std::unique_ptr<NcclState> nccl_;
};

}  // namespace trainer
