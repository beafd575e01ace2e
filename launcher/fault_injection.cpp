#include "launcher/fault_injection.h"

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <thread>

namespace trainer {

static bool enabled = false;

void enable_fault_injection() { enabled = true; }

// Whether the variable `name` asks for a fault on this rank at this step (and faults are on).
static bool requested(const char* name, int rank, int64_t step) {
  if (!enabled) return false;
  const char* value = std::getenv(name);
  int at_rank = -1;
  long long at_step = -1;
  return value && std::sscanf(value, "%d:%lld", &at_rank, &at_step) == 2 && rank == at_rank &&
         step == at_step;
}

void inject_faults(int rank, int64_t step) {
  if (requested("TRAINER_FAULT_KILL", rank, step)) std::raise(SIGKILL);
  if (requested("TRAINER_FAULT_THROW", rank, step))
    throw std::runtime_error("fault injected by TRAINER_FAULT_THROW at step " +
                             std::to_string(step + 1));
  if (requested("TRAINER_FAULT_STALL", rank, step))
    for (;;) std::this_thread::sleep_for(std::chrono::hours(1));
}

bool poison_inputs(int rank, int64_t step) { return requested("TRAINER_FAULT_NAN", rank, step); }

bool inf_gradient(int rank, int64_t step) {
  return requested("TRAINER_FAULT_INF_GRAD", rank, step);
}

}  // namespace trainer
