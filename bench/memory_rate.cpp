// One core's memory rates, the other side of a CPU step's balance beside its SGEMM rate
// (bench/sgemm_peak): how fast one thread writes memory that is not in its caches (in 512 KB
// pieces, as a BLAS clears a GEMM's output before accumulating into it, or an op writes a fresh
// activation), how fast it reads such memory, and the same two on one 512 KB piece that stays in
// cache. An op that touches each byte once runs at these rates however its loop is written.
// Prints one JSON line, GB/s, best of 5 rounds.
//
//   bench/memory_rate
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

namespace {

constexpr size_t kWhole = size_t{256} << 20;  // far beyond any cache this side of DRAM
constexpr size_t kPiece = size_t{512} << 10;

template <class F>
double best_rate(size_t bytes, F&& pass) {
  double best = 0.0;
  for (int round = 0; round < 5; ++round) {
    const auto t0 = std::chrono::steady_clock::now();
    pass();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, bytes / s / 1e9);
  }
  return best;
}

// XOR of every word: integer work the compiler vectorises, so the loads set the pace.
uint64_t read_all(const uint64_t* p, size_t words) {
  uint64_t acc = 0;
  for (size_t i = 0; i < words; ++i) acc ^= p[i];
  return acc;
}

}  // namespace

int main() {
  std::vector<uint64_t> whole(kWhole / 8, 1);
  char* bytes = reinterpret_cast<char*>(whole.data());
  volatile uint64_t sink = 0;
  const double write_memory = best_rate(kWhole, [&] {
    for (size_t at = 0; at < kWhole; at += kPiece) std::memset(bytes + at, 0, kPiece);
  });
  const double read_memory =
      best_rate(kWhole, [&] { sink = sink ^ read_all(whole.data(), kWhole / 8); });
  const double write_cached = best_rate(kWhole, [&] {
    for (size_t at = 0; at < kWhole; at += kPiece) std::memset(bytes, 0, kPiece);
  });
  const double read_cached = best_rate(kWhole, [&] {
    for (size_t at = 0; at < kWhole; at += kPiece) sink = sink ^ read_all(whole.data(), kPiece / 8);
  });
  std::printf(
      "{\"write_memory\": %.2f, \"read_memory\": %.2f, \"write_cached\": %.2f, "
      "\"read_cached\": %.2f}\n",
      write_memory, read_memory, write_cached, read_cached);
}
