// Ends the job when one collective runs past parallel.timeout_s: a rank that is lost or stalled
// must not leave the others waiting forever.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

namespace trainer {

class CollectiveWatchdog {
 public:
  explicit CollectiveWatchdog(double limit_s);
  ~CollectiveWatchdog();
  CollectiveWatchdog(const CollectiveWatchdog&) = delete;
  CollectiveWatchdog& operator=(const CollectiveWatchdog&) = delete;

  void set_limit(double seconds) { limit_s_.store(seconds); }
  void set_rank(int rank) { rank_.store(rank); }

  // Marks one operation in flight for as long as it lives; `peer` (a world rank) for a send or
  // receive, whose message then names the rank that never answered.
  class Scope {
   public:
    Scope(CollectiveWatchdog& w, const char* op, int peer = -1);
    ~Scope();

   private:
    CollectiveWatchdog& w_;
  };

 private:
  void watch();

  std::atomic<double> limit_s_;
  std::atomic<int> rank_{-1};
  std::atomic<int64_t> started_ns_{0};  // 0: nothing in flight
  std::atomic<const char*> op_{nullptr};
  std::atomic<int> peer_{-1};
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace trainer
