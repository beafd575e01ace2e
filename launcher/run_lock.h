// One run per run directory. Two runs writing one out_dir replace each other's checkpoints and
// metrics; the second is refused at start instead. The lock is flock(2) on <out_dir>/.lock: the
// kernel releases it when the process ends in any way (a crash leaves no stale lock), and the
// file holds the owner's pid and host for the message.
#pragma once

#include <string>

namespace trainer {

class RunLock {
 public:
  // Creates out_dir if needed (so an unwritable one is found here, before any collective) and
  // takes the lock; throws ConfigError naming the directory and the other run's pid and host.
  explicit RunLock(const std::string& out_dir);
  ~RunLock();
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace trainer
