// Faults on request, for the fault tests: an environment variable makes a real job misbehave,
// when the program was started with --fault-injection (a test flag, hidden from --help: a
// variable left in a user's environment must never stall or kill a real run).
//
//   TRAINER_FAULT_STALL=<rank>:<step>   that rank stops responding when it reaches that step
//                                       (as a hung node would), so the others' collectives
//                                       time out.
//   TRAINER_FAULT_KILL=<rank>:<step>    that rank dies by SIGKILL at the start of that step (as
//                                       a crashed node would), mid-run, with no chance to clean up.
//   TRAINER_FAULT_THROW=<rank>:<step>   that rank fails with an error of its own at that step (as
//                                       a local I/O error would) while the others go on.
//   TRAINER_FAULT_NAN=<rank>:<step>     that rank's first sample of that step reads as NaN (as a
//                                       corrupt record would), so its loss is not finite.
//   TRAINER_FAULT_INF_GRAD=<rank>:<step> one of that rank's gradients of that step reads inf
//                                       (as an fp16 overflow would), after the all-reduce.
#pragma once

#include <cstdint>

namespace trainer {

// Turns the variables below on (--fault-injection).
void enable_fault_injection();

// Called by every rank at the start of every step; does nothing unless a fault is requested.
void inject_faults(int rank, int64_t step);

// Whether this rank's inputs of this step are to be poisoned (TRAINER_FAULT_NAN).
bool poison_inputs(int rank, int64_t step);

// Whether this rank's gradients of this step get an inf (TRAINER_FAULT_INF_GRAD).
bool inf_gradient(int rank, int64_t step);

}  // namespace trainer
