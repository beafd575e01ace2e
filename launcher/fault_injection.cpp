#include "launcher/fault_injection.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

namespace trainer {

void inject_faults(int rank, int64_t step) {
  static const char* stall = std::getenv("TRAINER_FAULT_STALL");
  if (!stall) return;
  int stall_rank = -1;
  long long stall_step = -1;
  if (std::sscanf(stall, "%d:%lld", &stall_rank, &stall_step) != 2) return;
  if (rank != stall_rank || step != stall_step) return;
  for (;;) std::this_thread::sleep_for(std::chrono::hours(1));
}

}  // namespace trainer
