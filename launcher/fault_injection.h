// Faults on request, for the fault tests: an environment variable makes a real job misbehave.
//
//   TRAINER_FAULT_STALL=<rank>:<step>   that rank stops responding when it reaches that step
//                                       (as a hung node would), so the others' collectives
//                                       time out.
#pragma once

#include <cstdint>

namespace trainer {

// Called by every rank at the start of every step; does nothing unless a fault is requested.
void inject_faults(int rank, int64_t step);

}  // namespace trainer
