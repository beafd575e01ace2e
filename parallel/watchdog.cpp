#include "parallel/watchdog.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>

namespace trainer {

static int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

CollectiveWatchdog::CollectiveWatchdog(double limit_s)
    : limit_s_(limit_s), thread_([this] { watch(); }) {}

CollectiveWatchdog::~CollectiveWatchdog() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

CollectiveWatchdog::Scope::Scope(CollectiveWatchdog& w, const char* op, int peer) : w_(w) {
  w_.op_.store(op);
  w_.peer_.store(peer);
  w_.started_ns_.store(now_ns());
}

CollectiveWatchdog::Scope::~Scope() { w_.started_ns_.store(0); }

void CollectiveWatchdog::watch() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!cv_.wait_for(lock, std::chrono::milliseconds(200), [&] { return stop_; })) {
    const int64_t started = started_ns_.load();
    const double limit = limit_s_.load();
    if (started == 0 || limit <= 0 || (now_ns() - started) * 1e-9 < limit) continue;
    // Whatever the other threads are doing, this process cannot make progress: say why and end
    // it, and the launcher ends the rest of the job.
    const int peer = peer_.load();
    if (peer >= 0)
      std::fprintf(stderr,
                   "error: rank %d: %s rank %d did not complete within %g s "
                   "(parallel.timeout_s): rank %d is lost or stalled\n",
                   rank_.load(), op_.load(), peer, limit, peer);
    else
      std::fprintf(stderr,
                   "error: rank %d: %s did not complete within %g s (parallel.timeout_s): "
                   "another rank is lost or stalled\n",
                   rank_.load(), op_.load(), limit);
    std::fflush(stderr);
    std::_Exit(1);
  }
}

}  // namespace trainer
