// Pipeline schedules as data: for one stage, the ordered actions of one training step over M
// micro-batches. A pure function of (kind, stage, stages, microbatches); the executor runs the
// list, and tests simulate all stages' lists together without any communication.
//
// Sends are asynchronous (the executor does not wait for a send before its next action) and
// receives block: the schedules are deadlock-free under exactly that rule, which the simulation
// in the tests checks.
#pragma once

#include <string>
#include <vector>

namespace trainer {

enum class ScheduleKind { GPipe, OneFOneB };

// "gpipe" / "1f1b"; throws std::invalid_argument otherwise.
ScheduleKind schedule_kind(const std::string& name);

struct Action {
  enum Kind { Forward, Backward, SendActivation, RecvActivation, SendGrad, RecvGrad };
  Kind kind;
  int microbatch;
  bool operator==(const Action& o) const { return kind == o.kind && microbatch == o.microbatch; }
};

// GPipe: all forwards, then all backwards; every micro-batch's activations are held at once.
// 1F1B: stage s runs P - s - 1 forwards to fill the pipeline, then alternates one forward and
// one backward, then drains; stage s holds at most P - s micro-batches' activations.
// Backwards run in micro-batch order in both, so the last action of compute on every stage is
// Backward(M - 1): the data-parallel reducer communicates during that one.
std::vector<Action> make_schedule(ScheduleKind kind, int stage, int stages, int microbatches);

// The fraction of a step a stage idles in an ideal pipeline of equal stages:
// (P - 1) / (M + P - 1), the same for both schedules.
double ideal_bubble(int stages, int microbatches);

}  // namespace trainer
