// Device and communicator choice, as a pure function of what the node has.
#include <gtest/gtest.h>

#include "core/error.h"
#include "launcher/device.h"

namespace trainer {
namespace {

DeviceChoice choose(const std::string& device, const std::string& comm, int gpus, int local_ranks,
                    int local_rank = 0) {
  return choose_device(device, comm, gpus, local_ranks, local_rank, "cfg.yaml:3", "cfg.yaml:9");
}

std::string error_of(const std::string& device, const std::string& comm, int gpus,
                     int local_ranks) {
  try {
    choose(device, comm, gpus, local_ranks);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(DeviceTest, AutoTrainsOnTheGpuWithNcclWhenEachRankHasOne) {
  const DeviceChoice c = choose("auto", "auto", 4, 4, 3);
  EXPECT_EQ(c.device, "cuda");
  EXPECT_EQ(c.gpu, 3);
  EXPECT_EQ(c.communicator, "nccl");
  EXPECT_EQ(c.note, "");
}

TEST(DeviceTest, AutoOnAMachineWithoutGpusTrainsOnTheCpu) {
  const DeviceChoice c = choose("auto", "auto", 0, 2, 1);
  EXPECT_EQ(c.device, "cpu");
  EXPECT_EQ(c.communicator, "mpi");
}

TEST(DeviceTest, RanksSharingAGpuGoOverMpiAndSaySo) {
  const DeviceChoice first = choose("auto", "auto", 1, 2, 0),
                     second = choose("cuda", "auto", 1, 2, 1);
  EXPECT_EQ(first.device, "cuda");
  EXPECT_EQ(first.gpu, 0);
  EXPECT_EQ(second.gpu, 0);
  EXPECT_EQ(first.communicator, "mpi");
  EXPECT_EQ(first.note,
            "2 ranks share 1 GPU on this node: gradients go over MPI through host memory (NCCL "
            "needs one GPU per rank)");
  EXPECT_EQ(second.note, "");  // said once per node
  // Ranks take GPUs round-robin by local rank.
  EXPECT_EQ(choose("cuda", "mpi", 2, 4, 3).gpu, 1);
}

TEST(DeviceTest, CpuStaysOnTheCpuWhateverTheNodeHas) {
  const DeviceChoice c = choose("cpu", "auto", 8, 1);
  EXPECT_EQ(c.device, "cpu");
  EXPECT_EQ(c.gpu, -1);
}

TEST(DeviceTest, ImpossibleRequestsAreRefusedNamingTheKey) {
  EXPECT_EQ(error_of("cuda", "auto", 0, 1).rfind("cfg.yaml:3: device: cuda: ", 0), 0u);
  EXPECT_EQ(error_of("auto", "nccl", 0, 1),
            "cfg.yaml:9: parallel.communicator: nccl needs device cuda; this run trains on the "
            "CPU; use mpi or auto");
  EXPECT_EQ(error_of("cuda", "nccl", 1, 2),
            "cfg.yaml:9: parallel.communicator: nccl: 2 ranks on this node share its 1 GPU; NCCL "
            "needs one GPU per rank; start at most that many ranks per node, or use mpi or auto");
}

}  // namespace
}  // namespace trainer
