// All-reduce bandwidth of the communicator the gradient reducer uses, against raw MPI_Allreduce
// on the same buffer sizes, in the same job:
//
//   mpirun -np 2 bench/allreduce_bandwidth        (prints one JSON line per size, from rank 0)
//
// Bus bandwidth as nccl-tests defines it: busbw = bytes / t * 2 (n - 1) / n.
// Raw MPI runs first in a job of its own MPI_Init; then the communicator (whose MPI thread owns
// MPI) in a second phase started by exec'ing this program again, so each has MPI to itself.
#include <mpi.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "parallel/mpi_communicator.h"

namespace {

constexpr int kRepeats = 20;
const std::vector<long> kSizes = {1 << 10, 1 << 14, 1 << 18, 1 << 20, 1 << 22, 1 << 24};  // floats

double seconds(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void report(const char* path, long n, int ranks, double t) {
  const double bytes = 4.0 * static_cast<double>(n);
  std::printf("{\"path\": \"%s\", \"bytes\": %.0f, \"ranks\": %d, \"seconds\": %.6g, \"busbw_GBps\": %.4g}\n",
              path, bytes, ranks, t, bytes / t * 2.0 * (ranks - 1) / ranks / 1e9);
  std::fflush(stdout);
}

int raw() {
  MPI_Init(nullptr, nullptr);
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  for (long n : kSizes) {
    std::vector<float> buf(static_cast<size_t>(n), 1.0f);
    MPI_Allreduce(MPI_IN_PLACE, buf.data(), static_cast<int>(n), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    MPI_Barrier(MPI_COMM_WORLD);
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < kRepeats; ++i)
      MPI_Allreduce(MPI_IN_PLACE, buf.data(), static_cast<int>(n), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    const double t = seconds(t0) / kRepeats;
    if (rank == 0) report("MPI_Allreduce", n, size, t);
  }
  MPI_Finalize();
  return 0;
}

int communicator() {
  auto world = trainer::MpiCommunicator::world();
  for (long n : kSizes) {
    std::vector<float> buf(static_cast<size_t>(n), 1.0f);
    world->all_reduce_async(buf.data(), n, trainer::ReduceOp::Sum)->wait();
    world->barrier();
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < kRepeats; ++i)
      world->all_reduce_async(buf.data(), n, trainer::ReduceOp::Sum)->wait();
    const double t = seconds(t0) / kRepeats;
    if (world->rank() == 0) report("trainer MpiCommunicator", n, world->size(), t);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return argc > 1 && std::strcmp(argv[1], "communicator") == 0 ? communicator() : raw();
}
