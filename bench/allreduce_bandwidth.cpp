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

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "parallel/mpi_communicator.h"

namespace {

// Each size is timed in kBatches batches of about kBatchBytes moved, and the median batch is
// reported: a 4 KiB all-reduce takes a few microseconds, so a batch of 20 would be one
// scheduler hiccup away from a figure off by half on a shared machine.
constexpr int kBatches = 7;
constexpr double kBatchBytes = 256e6;
const std::vector<long> kSizes = {1 << 10, 1 << 14, 1 << 18, 1 << 20, 1 << 22, 1 << 24};  // floats

double seconds(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

int repeats(long n) { return std::max(20, static_cast<int>(kBatchBytes / (4.0 * n))); }

// Median over the batches of the mean time of one all-reduce; `barrier` lines the ranks up first.
template <class AllReduce, class Barrier>
double time_per_op(long n, AllReduce&& all_reduce, Barrier&& barrier) {
  std::vector<double> t;
  for (int b = 0; b < kBatches; ++b) {
    barrier();
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < repeats(n); ++i) all_reduce();
    t.push_back(seconds(t0) / repeats(n));
  }
  std::nth_element(t.begin(), t.begin() + kBatches / 2, t.end());
  return t[kBatches / 2];
}

void report(const char* path, long n, int ranks, double t) {
  const double bytes = 4.0 * static_cast<double>(n);
  std::printf(
      "{\"path\": \"%s\", \"bytes\": %.0f, \"ranks\": %d, \"seconds\": %.6g, \"busbw_GBps\": "
      "%.4g}\n",
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
    MPI_Allreduce(MPI_IN_PLACE, buf.data(), static_cast<int>(n), MPI_FLOAT, MPI_SUM,
                  MPI_COMM_WORLD);
    const double t = time_per_op(
        n,
        [&] {
          MPI_Allreduce(MPI_IN_PLACE, buf.data(), static_cast<int>(n), MPI_FLOAT, MPI_SUM,
                        MPI_COMM_WORLD);
        },
        [] { MPI_Barrier(MPI_COMM_WORLD); });
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
    const double t = time_per_op(
        n, [&] { world->all_reduce_async(buf.data(), n, trainer::ReduceOp::Sum)->wait(); },
        [&] { world->barrier(); });
    if (world->rank() == 0) report("trainer MpiCommunicator", n, world->size(), t);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return argc > 1 && std::strcmp(argv[1], "communicator") == 0 ? communicator() : raw();
}
