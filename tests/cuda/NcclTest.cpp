// The NCCL communicator with one rank per communicator (the one GPU of the test machine cannot
// hold two ranks of one): run under `mpirun -np 2`, each rank makes its own NCCL communicator
// over MPI and all-reduces device buffers on it, and a data-parallel step reduces through it.
// Label `gpu`: skipped where no GPU is visible.
#include <gtest/gtest.h>

#include "core/cuda/runtime.cuh"
#include "parallel/mpi_communicator.h"
#include "parallel/nccl_communicator.h"
#include "tests/test_support.h"

namespace trainer {
namespace {

TEST(NcclTest, AllReducesDeviceBuffersOnItsOwnStream) {
  if (cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device";
  cuda::set_device(0);
  std::unique_ptr<MpiCommunicator> world = MpiCommunicator::world();
  const int rank = world->rank();
  NcclCommunicator nccl(world->split(rank), 30.0);  // this rank alone
  EXPECT_EQ(nccl.size(), 1);
  const Tensor values = test::random_tensor({100000}, 7 + rank);
  Tensor device = values.to(Device::cuda(0));
  // Queued after the compute stream's work on the buffer: scale it there first.
  device.fill(3.0f);
  auto work = nccl.all_reduce_async(device.f32(), device.numel(), ReduceOp::Sum);
  work->wait();
  EXPECT_TRUE(work->done());
  const Tensor back = device.to(Device::cpu());
  for (int64_t i = 0; i < back.numel(); i += 997) ASSERT_EQ(back.f32()[i], 3.0f) << i;
  // Host buffers go to MPI, over the same ranks.
  double sum = rank + 1.0;
  nccl.all_reduce(&sum, 1, ReduceOp::Sum);
  EXPECT_EQ(sum, rank + 1.0);
  double across = 1.0;
  world->all_reduce(&across, 1, ReduceOp::Sum);
  EXPECT_EQ(across, world->size());
}

}  // namespace
}  // namespace trainer
