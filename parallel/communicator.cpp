#include "parallel/communicator.h"

#include <cstring>
#include <stdexcept>
#include <string>

namespace trainer {

namespace {
class DoneWork : public Work {
 public:
  void wait() override {}
  bool done() const override { return true; }
  trace::Clock::time_point finished_at() const override { return finished_at_; }

 private:
  trace::Clock::time_point finished_at_ = trace::Clock::now();
};
}  // namespace

std::unique_ptr<Work> completed_work() { return std::make_unique<DoneWork>(); }

void Communicator::all_reduce(void* data, int64_t n, DType dtype, ReduceOp op) {
  if (!reduces_in(dtype))
    throw std::logic_error(std::string("all-reduce in ") + dtype_name(dtype) +
                           " on a transport that reduces f32 only");
  all_reduce(static_cast<float*>(data), n, op);
}

std::unique_ptr<Work> SelfCommunicator::all_reduce_async(float*, int64_t, ReduceOp) {
  return completed_work();
}

std::unique_ptr<Work> SelfCommunicator::reduce_scatter_in_place_async(float*,
                                                                      const std::vector<int64_t>&) {
  return completed_work();
}

std::unique_ptr<Work> SelfCommunicator::all_gather_in_place_async(void*,
                                                                  const std::vector<int64_t>&,
                                                                  DType) {
  return completed_work();
}

void SelfCommunicator::all_gather(const void* send, int64_t bytes, void* recv) {
  std::memcpy(recv, send, static_cast<size_t>(bytes));
}

std::unique_ptr<Work> SelfCommunicator::send_async(const void*, int64_t, int peer, int) {
  throw std::logic_error("send to rank " + std::to_string(peer) + " in a one-rank group");
}

std::unique_ptr<Work> SelfCommunicator::recv_async(void*, int64_t, int peer, int) {
  throw std::logic_error("receive from rank " + std::to_string(peer) + " in a one-rank group");
}

}  // namespace trainer
