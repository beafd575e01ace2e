// Pipeline schedules, checked without communication: all stages' action lists run together in a
// simulation where sends are asynchronous and receives block, as in the executor.
#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <string>

#include "parallel/schedule.h"

namespace trainer {
namespace {

struct Simulation {
  bool finished = false;     // every stage ran its whole list (no stage waits forever)
  std::string error;         // a receive that met another micro-batch than it expected
  std::vector<int> peak;     // per stage: most micro-batches forwarded and not yet backward
  double makespan = 0.0;     // with forward = 1 and backward = 2 time units, transfers free
  std::vector<double> busy;  // per stage: time spent computing
};

// Messages travel in order on each directed link, as MPI guarantees between two ranks.
Simulation simulate(ScheduleKind kind, int stages, int microbatches) {
  std::vector<std::vector<Action>> lists;
  for (int s = 0; s < stages; ++s) lists.push_back(make_schedule(kind, s, stages, microbatches));
  struct Message {
    int mb;
    double time;
  };
  // activations[s]: stage s -> s + 1; grads[s]: stage s + 1 -> s.
  std::vector<std::deque<Message>> activations(stages), grads(stages);
  std::vector<size_t> pc(stages, 0);
  std::vector<double> clock(stages, 0.0);
  std::vector<int> in_flight(stages, 0);
  Simulation sim;
  sim.peak.assign(stages, 0);
  sim.busy.assign(stages, 0.0);
  for (bool progress = true; progress;) {
    progress = false;
    for (int s = 0; s < stages; ++s) {
      while (pc[s] < lists[s].size()) {
        const Action a = lists[s][pc[s]];
        std::deque<Message>* inbox = a.kind == Action::RecvActivation ? &activations[s - 1]
                                     : a.kind == Action::RecvGrad     ? &grads[s]
                                                                      : nullptr;
        if (inbox) {
          if (inbox->empty()) break;  // blocked until the other stage sends
          if (inbox->front().mb != a.microbatch) {
            sim.error = "stage " + std::to_string(s) + " expected micro-batch " +
                        std::to_string(a.microbatch) + ", got " + std::to_string(inbox->front().mb);
            return sim;
          }
          clock[s] = std::max(clock[s], inbox->front().time);
          inbox->pop_front();
        } else if (a.kind == Action::SendActivation) {
          activations[s].push_back({a.microbatch, clock[s]});
        } else if (a.kind == Action::SendGrad) {
          grads[s - 1].push_back({a.microbatch, clock[s]});
        } else {
          const double cost = a.kind == Action::Forward ? 1.0 : 2.0;
          clock[s] += cost;
          sim.busy[s] += cost;
          in_flight[s] += a.kind == Action::Forward ? 1 : -1;
          sim.peak[s] = std::max(sim.peak[s], in_flight[s]);
        }
        ++pc[s];
        progress = true;
      }
    }
  }
  sim.finished = true;
  for (int s = 0; s < stages; ++s) {
    sim.finished = sim.finished && pc[s] == lists[s].size();
    sim.makespan = std::max(sim.makespan, clock[s]);
    if (!activations[s].empty() || !grads[s].empty()) sim.error = "a send nobody received";
  }
  return sim;
}

class EverySchedule : public ::testing::TestWithParam<ScheduleKind> {};

TEST_P(EverySchedule, EachMicrobatchGoesForwardOnceThenBackwardOnceOnEveryStage) {
  for (int stages = 1; stages <= 8; ++stages)
    for (int m = 1; m <= 16; ++m)
      for (int s = 0; s < stages; ++s) {
        const std::vector<Action> list = make_schedule(GetParam(), s, stages, m);
        std::vector<int> forward_at(m, -1), backward_at(m, -1);
        int forwards = 0, backwards = 0;
        for (size_t i = 0; i < list.size(); ++i) {
          const Action& a = list[i];
          ASSERT_TRUE(a.microbatch >= 0 && a.microbatch < m);
          if (a.kind == Action::Forward) {
            ASSERT_EQ(forward_at[a.microbatch], -1) << "forward twice";
            ASSERT_EQ(a.microbatch, forwards++) << "forwards out of order";
            forward_at[a.microbatch] = static_cast<int>(i);
          } else if (a.kind == Action::Backward) {
            ASSERT_EQ(backward_at[a.microbatch], -1) << "backward twice";
            ASSERT_EQ(a.microbatch, backwards++) << "backwards out of order";
            ASSERT_GE(forward_at[a.microbatch], 0) << "backward before forward";
            backward_at[a.microbatch] = static_cast<int>(i);
          }
          // The first stage reads data, the last computes the loss: neither talks past its end.
          if (s == 0) {
            ASSERT_NE(a.kind, Action::RecvActivation);
            ASSERT_NE(a.kind, Action::SendGrad);
          }
          if (s == stages - 1) {
            ASSERT_NE(a.kind, Action::SendActivation);
            ASSERT_NE(a.kind, Action::RecvGrad);
          }
        }
        ASSERT_EQ(forwards, m);
        ASSERT_EQ(backwards, m);
        // The data-parallel reducer communicates during the step's last backward.
        const auto last_compute = std::find_if(list.rbegin(), list.rend(), [](const Action& a) {
          return a.kind == Action::Forward || a.kind == Action::Backward;
        });
        EXPECT_EQ(*last_compute, (Action{Action::Backward, m - 1}));
      }
}

TEST_P(EverySchedule, AllStagesTogetherFinishWithEverySendReceivedInOrder) {
  for (int stages = 1; stages <= 8; ++stages)
    for (int m = 1; m <= 16; ++m) {
      const Simulation sim = simulate(GetParam(), stages, m);
      ASSERT_TRUE(sim.error.empty()) << sim.error << " (P=" << stages << ", M=" << m << ")";
      ASSERT_TRUE(sim.finished) << "deadlock (P=" << stages << ", M=" << m << ")";
    }
}

// With forward 1 and backward 2 time units and free transfers, both schedules idle each stage
// for exactly the textbook bubble (P - 1) / (M + P - 1) of the step.
TEST_P(EverySchedule, IdleTimeIsTheIdealBubble) {
  for (int stages = 1; stages <= 8; ++stages)
    for (int m = 1; m <= 16; ++m) {
      const Simulation sim = simulate(GetParam(), stages, m);
      for (int s = 0; s < stages; ++s)
        EXPECT_NEAR(1.0 - sim.busy[s] / sim.makespan, ideal_bubble(stages, m), 1e-12)
            << "P=" << stages << " M=" << m << " stage " << s;
    }
}

TEST_P(EverySchedule, MicrobatchesInFlightAreWhatTheSchedulePromises) {
  for (int stages = 1; stages <= 8; ++stages)
    for (int m = 1; m <= 16; ++m) {
      const Simulation sim = simulate(GetParam(), stages, m);
      for (int s = 0; s < stages; ++s) {
        const int promised = GetParam() == ScheduleKind::GPipe ? m : std::min(m, stages - s);
        EXPECT_EQ(sim.peak[s], promised) << "P=" << stages << " M=" << m << " stage " << s;
      }
    }
}

INSTANTIATE_TEST_SUITE_P(Schedules, EverySchedule,
                         ::testing::Values(ScheduleKind::GPipe, ScheduleKind::OneFOneB),
                         [](const auto& info) {
                           return std::string(info.param == ScheduleKind::GPipe ? "GPipe"
                                                                                : "OneFOneB");
                         });

TEST(ScheduleTest, OneFOneBOnTwoStagesInterleavesAfterOneWarmupForward) {
  using A = Action;
  EXPECT_EQ(make_schedule(ScheduleKind::OneFOneB, 0, 2, 3),
            (std::vector<Action>{{A::Forward, 0},
                                 {A::SendActivation, 0},
                                 {A::Forward, 1},
                                 {A::SendActivation, 1},
                                 {A::RecvGrad, 0},
                                 {A::Backward, 0},
                                 {A::Forward, 2},
                                 {A::SendActivation, 2},
                                 {A::RecvGrad, 1},
                                 {A::Backward, 1},
                                 {A::RecvGrad, 2},
                                 {A::Backward, 2}}));
  EXPECT_EQ(make_schedule(ScheduleKind::OneFOneB, 1, 2, 2),
            (std::vector<Action>{{A::RecvActivation, 0},
                                 {A::Forward, 0},
                                 {A::Backward, 0},
                                 {A::SendGrad, 0},
                                 {A::RecvActivation, 1},
                                 {A::Forward, 1},
                                 {A::Backward, 1},
                                 {A::SendGrad, 1}}));
}

TEST(ScheduleTest, UnknownNamesAndBadArgumentsAreRefused) {
  EXPECT_EQ(schedule_kind("1f1b"), ScheduleKind::OneFOneB);
  EXPECT_EQ(schedule_kind("gpipe"), ScheduleKind::GPipe);
  EXPECT_THROW(schedule_kind("interleaved"), std::invalid_argument);
  EXPECT_THROW(make_schedule(ScheduleKind::GPipe, 2, 2, 4), std::invalid_argument);
  EXPECT_THROW(make_schedule(ScheduleKind::GPipe, 0, 2, 0), std::invalid_argument);
}

}  // namespace
}  // namespace trainer
