// Run under mpirun -np 2 and -np 4 (see tests/CMakeLists.txt): ZeRO's two collectives on MPI
// against their definitions, with uneven shares and an empty one (the last ranks' ZeRO ranges
// may be empty), the all-gather in each type it carries; posted receives (a pipeline's
// look-ahead) completing in the background, and withdrawn.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "core/ops.h"
#include "parallel/mpi_communicator.h"

namespace trainer {
namespace {

// Rank r's share: 3r + 1 elements, the last rank's none.
std::vector<int64_t> uneven_counts(int ranks) {
  std::vector<int64_t> counts;
  for (int r = 0; r < ranks; ++r) counts.push_back(r + 1 == ranks ? 0 : 3 * r + 1);
  return counts;
}

int64_t offset_of(const std::vector<int64_t>& counts, int rank) {
  int64_t offset = 0;
  for (int r = 0; r < rank; ++r) offset += counts[r];
  return offset;
}

TEST(CommunicatorTest, ReduceScatterLeavesEachRankTheSumsOfItsShare) {
  std::unique_ptr<MpiCommunicator> world = MpiCommunicator::world();
  const int n = world->size(), me = world->rank();
  const std::vector<int64_t> counts = uneven_counts(n);
  const int64_t total = offset_of(counts, n);
  std::vector<float> data(static_cast<size_t>(total));
  for (int64_t i = 0; i < total; ++i) data[i] = 1000.0f * (me + 1) + static_cast<float>(i);
  world->reduce_scatter_in_place_async(data.data(), counts)->wait();
  const int64_t begin = offset_of(counts, me);
  for (int64_t i = begin; i < begin + counts[me]; ++i)
    EXPECT_EQ(data[i], 1000.0f * n * (n + 1) / 2 + static_cast<float>(n * i)) << "element " << i;
}

TEST(CommunicatorTest, AllGatherBringsEveryRanksShareInEachType) {
  std::unique_ptr<MpiCommunicator> world = MpiCommunicator::world();
  const int n = world->size(), me = world->rank();
  const std::vector<int64_t> counts = uneven_counts(n);
  const int64_t total = offset_of(counts, n);
  // Element k of rank r's share is 10r + k (exact in 16 bits); the rest is -1 until gathered.
  auto expected = [&](int owner, int64_t k) { return 10.0f * owner + static_cast<float>(k); };
  for (DType dtype : {DType::F32, DType::F16, DType::BF16}) {
    SCOPED_TRACE(static_cast<int>(dtype));
    Tensor mine = Tensor::empty({total});
    mine.fill(-1.0f);
    for (int64_t k = 0; k < counts[me]; ++k)
      mine.f32()[offset_of(counts, me) + k] = expected(me, k);
    Tensor typed = ops::cast(mine, dtype);
    world->all_gather_in_place(typed.raw(), counts, dtype);
    const Tensor back = ops::cast(typed, DType::F32);
    for (int r = 0; r < n; ++r)
      for (int64_t k = 0; k < counts[r]; ++k)
        EXPECT_EQ(back.f32()[offset_of(counts, r) + k], expected(r, k)) << "rank " << r;
  }
}

// A receive posted before its message is sent completes while this rank does something else
// (the MPI thread tests it: done() turns true without a wait), and a receive whose message never
// comes is withdrawn at once by cancel(), as an error ending a pipeline step does.
TEST(CommunicatorTest, PostedReceivesCompleteInTheBackgroundAndCancel) {
  std::unique_ptr<MpiCommunicator> world = MpiCommunicator::world();
  const int n = world->size(), me = world->rank();
  const int next = (me + 1) % n, previous = (me + n - 1) % n;
  std::vector<float> in(50000, 0.0f), out(50000, static_cast<float>(me + 1));  // 200 KB
  std::unique_ptr<Work> received = world->recv_async(in.data(), 200000, previous, 5);
  std::vector<float> never(4);
  std::unique_ptr<Work> withdrawn = world->recv_async(never.data(), 16, previous, 6);
  world->barrier();  // every receive is posted before any send
  std::unique_ptr<Work> sent = world->send_async(out.data(), 200000, next, 5);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!received->done() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_TRUE(received->done());
  received->wait();
  EXPECT_EQ(in.front(), static_cast<float>(previous + 1));
  EXPECT_EQ(in.back(), static_cast<float>(previous + 1));
  sent->wait();
  withdrawn->cancel();
  EXPECT_TRUE(withdrawn->done());
  withdrawn.reset();  // its destructor does not wait for a message that never comes
  world->barrier();
}

}  // namespace
}  // namespace trainer
