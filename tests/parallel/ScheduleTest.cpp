// Pipeline schedules, checked without communication: all stages' action lists run together in a
// simulation where sends are asynchronous and receives block, as in the executor.
#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <map>
#include <string>

#include "parallel/schedule.h"

namespace trainer {
namespace {

struct Simulation {
  bool finished = false;     // every stage ran its whole list (no stage waits forever)
  std::string error;         // a receive that met another micro-batch than it expected
  std::vector<double> peak;  // per stage: most micro-batches forwarded and not yet backward
                             // (W under zb-h1), an interleaved chunk's counting 1/V
  double makespan = 0.0;     // with F = 1, B = W = 1 (a whole backward 2) time units per
                             // chunk, transfers free
  std::vector<double> busy;  // per stage: time spent computing
};

// One case: a schedule, P stages, M micro-batches, V chunks per stage.
struct Case {
  ScheduleKind kind;
  int stages, microbatches, chunks;
  std::string str() const {
    return std::string(schedule_name(kind)) + " P=" + std::to_string(stages) +
           " M=" + std::to_string(microbatches) + " V=" + std::to_string(chunks);
  }
};

// Every case the schedules accept with P <= 8, M <= 16, V <= 4.
std::vector<Case> every_case(ScheduleKind kind) {
  std::vector<Case> out;
  for (int p = 1; p <= 8; ++p)
    for (int m = 1; m <= 16; ++m) {
      if (kind != ScheduleKind::Interleaved) out.push_back({kind, p, m, 1});
      for (int v = 2; kind == ScheduleKind::Interleaved && v <= 4; ++v)
        if (m % p == 0) out.push_back({kind, p, m, v});
    }
  return out;
}

double cost(Action::Kind kind) {
  switch (kind) {
    case Action::Forward:
    case Action::BackwardInput:
    case Action::BackwardWeight:
      return 1.0;
    case Action::Backward:
      return 2.0;
    default:
      return 0.0;
  }
}

// Messages travel in order on each boundary between virtual stages (one MPI tag per boundary
// and micro-batch: a receive could take them in any order, the schedules never need to).
Simulation simulate(const Case& c) {
  const int P = c.stages, V = c.chunks;
  std::vector<std::vector<Action>> lists;
  for (int s = 0; s < P; ++s) lists.push_back(make_schedule(c.kind, s, P, c.microbatches, V));
  struct Message {
    int mb;
    double time;
  };
  // Keyed by (virtual stage v, is a gradient): activations v -> v + 1, gradients v + 1 -> v.
  std::map<std::pair<int, bool>, std::deque<Message>> links;
  std::vector<size_t> pc(P, 0);
  std::vector<double> clock(P, 0.0), in_flight(P, 0.0);
  Simulation sim;
  sim.peak.assign(P, 0.0);
  sim.busy.assign(P, 0.0);
  for (bool progress = true; progress;) {
    progress = false;
    for (int s = 0; s < P; ++s) {
      while (pc[s] < lists[s].size()) {
        const Action a = lists[s][pc[s]];
        const int v = a.chunk * P + s;
        if (a.kind == Action::RecvActivation || a.kind == Action::RecvGrad) {
          std::deque<Message>& inbox =
              links[a.kind == Action::RecvActivation ? std::make_pair(v - 1, false)
                                                     : std::make_pair(v, true)];
          if (inbox.empty()) break;  // blocked until the other stage sends
          if (inbox.front().mb != a.microbatch) {
            sim.error = "stage " + std::to_string(s) + " expected micro-batch " +
                        std::to_string(a.microbatch) + ", got " + std::to_string(inbox.front().mb);
            return sim;
          }
          clock[s] = std::max(clock[s], inbox.front().time);
          inbox.pop_front();
        } else if (a.kind == Action::SendActivation) {
          links[{v, false}].push_back({a.microbatch, clock[s]});
        } else if (a.kind == Action::SendGrad) {
          links[{v - 1, true}].push_back({a.microbatch, clock[s]});
        } else {
          clock[s] += cost(a.kind);
          sim.busy[s] += cost(a.kind);
          if (a.kind == Action::Forward) in_flight[s] += 1.0 / V;
          if (a.kind == Action::Backward || a.kind == Action::BackwardWeight)
            in_flight[s] -= 1.0 / V;
          sim.peak[s] = std::max(sim.peak[s], in_flight[s]);
        }
        ++pc[s];
        progress = true;
      }
    }
  }
  sim.finished = true;
  for (int s = 0; s < P; ++s) {
    sim.finished = sim.finished && pc[s] == lists[s].size();
    sim.makespan = std::max(sim.makespan, clock[s]);
  }
  for (const auto& [link, queue] : links)
    if (!queue.empty()) sim.error = "a send nobody received";
  return sim;
}

class EverySchedule : public ::testing::TestWithParam<ScheduleKind> {};

// Each (micro-batch, chunk) goes forward once and then backward once (B then W under zb-h1),
// forwards and backwards each in one order, and the step's last compute completes micro-batch
// M - 1's gradients of chunk 0 (the data-parallel reducer communicates during it).
TEST_P(EverySchedule, EachMicrobatchGoesForwardOnceThenBackwardOnceOnEveryStage) {
  for (const Case& c : every_case(GetParam()))
    for (int s = 0; s < c.stages; ++s) {
      SCOPED_TRACE(c.str() + " stage " + std::to_string(s));
      const std::vector<Action> list = make_schedule(c.kind, s, c.stages, c.microbatches, c.chunks);
      // Per (micro-batch, chunk): 1 after its forward, 2 after B, 3 after W (or a whole backward).
      std::map<std::pair<int, int>, int> phase;
      int weights_done = 0;
      for (const Action& a : list) {
        ASSERT_TRUE(a.microbatch >= 0 && a.microbatch < c.microbatches);
        ASSERT_TRUE(a.chunk >= 0 && a.chunk < c.chunks);
        int& at = phase[{a.microbatch, a.chunk}];
        switch (a.kind) {
          case Action::Forward:
            ASSERT_EQ(at++, 0) << "forward twice";
            break;
          case Action::Backward:
            ASSERT_EQ(at, 1) << "backward before forward, or twice";
            at = 3;
            break;
          case Action::BackwardInput:
            ASSERT_EQ(at++, 1) << "B before forward, or twice";
            break;
          case Action::BackwardWeight:
            ASSERT_EQ(at++, 2) << "W before B, or twice";
            ASSERT_EQ(a.microbatch, weights_done++) << "W's out of micro-batch order";
            break;
          default:
            break;
        }
        // The first virtual stage reads data, the last computes the loss: neither talks past
        // its end.
        if (s == 0 && a.chunk == 0) {
          ASSERT_NE(a.kind, Action::RecvActivation);
          ASSERT_NE(a.kind, Action::SendGrad);
        }
        if (s == c.stages - 1 && a.chunk == c.chunks - 1) {
          ASSERT_NE(a.kind, Action::SendActivation);
          ASSERT_NE(a.kind, Action::RecvGrad);
        }
      }
      ASSERT_EQ(phase.size(), static_cast<size_t>(c.microbatches * c.chunks));
      for (const auto& [key, at] : phase) ASSERT_EQ(at, 3) << "micro-batch " << key.first;
      const auto last_compute = std::find_if(list.rbegin(), list.rend(), [](const Action& a) {
        return a.kind == Action::Forward || a.kind == Action::Backward ||
               a.kind == Action::BackwardInput || a.kind == Action::BackwardWeight;
      });
      const Action::Kind completes =
          GetParam() == ScheduleKind::ZeroBubbleH1 ? Action::BackwardWeight : Action::Backward;
      EXPECT_EQ(*last_compute, (Action{completes, c.microbatches - 1, 0}));
    }
}

TEST_P(EverySchedule, AllStagesTogetherFinishWithEverySendReceivedInOrder) {
  for (const Case& c : every_case(GetParam())) {
    const Simulation sim = simulate(c);
    ASSERT_TRUE(sim.error.empty()) << sim.error << " (" << c.str() << ")";
    ASSERT_TRUE(sim.finished) << "deadlock (" << c.str() << ")";
  }
}

// Under unit costs and free transfers every stage idles for exactly the schedule's formula.
TEST_P(EverySchedule, IdleTimeIsTheSchedulesFormula) {
  for (const Case& c : every_case(GetParam())) {
    const Simulation sim = simulate(c);
    for (int s = 0; s < c.stages; ++s)
      EXPECT_NEAR(1.0 - sim.busy[s] / sim.makespan,
                  ideal_bubble(c.stages, c.microbatches, c.kind, c.chunks), 1e-12)
          << c.str() << " stage " << s;
  }
}

TEST_P(EverySchedule, MicrobatchesInFlightAreWhatTheSchedulePromises) {
  for (const Case& c : every_case(GetParam())) {
    const Simulation sim = simulate(c);
    for (int s = 0; s < c.stages; ++s)
      EXPECT_NEAR(sim.peak[s],
                  peak_microbatches_held(c.kind, s, c.stages, c.microbatches, c.chunks), 1e-12)
          << c.str() << " stage " << s;
  }
}

INSTANTIATE_TEST_SUITE_P(Schedules, EverySchedule,
                         ::testing::Values(ScheduleKind::GPipe, ScheduleKind::OneFOneB,
                                           ScheduleKind::Interleaved, ScheduleKind::ZeroBubbleH1),
                         [](const auto& info) {
                           std::string name = schedule_name(info.param);
                           name.erase(std::remove(name.begin(), name.end(), '-'), name.end());
                           return "s" + name;
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

// The last stage of two defers one W: it sends micro-batch 0's gradient back before computing
// its weights' gradients, which it does at the end, where 1F1B's last stage would idle.
TEST(ScheduleTest, ZeroBubbleLastStageDefersItsFirstWeightGradients) {
  using A = Action;
  EXPECT_EQ(make_schedule(ScheduleKind::ZeroBubbleH1, 1, 2, 2),
            (std::vector<Action>{{A::RecvActivation, 0},
                                 {A::Forward, 0},
                                 {A::BackwardInput, 0},
                                 {A::SendGrad, 0},
                                 {A::RecvActivation, 1},
                                 {A::Forward, 1},
                                 {A::BackwardInput, 1},
                                 {A::SendGrad, 1},
                                 {A::BackwardWeight, 0},
                                 {A::BackwardWeight, 1}}));
}

TEST(ScheduleTest, InterleavedStagesPassActivationsRoundTheRingToTheNextChunk) {
  // Two stages, two chunks each: virtual stages 0 1 | 2 3 on ranks 0 1 | 0 1. Stage 1's chunk 0
  // sends on to stage 0's chunk 1, and stage 0's chunk 1 receives from it.
  const std::vector<Action> first = make_schedule(ScheduleKind::Interleaved, 0, 2, 2, 2);
  const std::vector<Action> second = make_schedule(ScheduleKind::Interleaved, 1, 2, 2, 2);
  EXPECT_NE(std::find(first.begin(), first.end(), Action{Action::RecvActivation, 0, 1}),
            first.end());
  EXPECT_NE(std::find(second.begin(), second.end(), Action{Action::SendActivation, 0, 0}),
            second.end());
  EXPECT_EQ(std::find(second.begin(), second.end(), Action{Action::SendActivation, 0, 1}),
            second.end());  // the loss's virtual stage
}

// Evaluation's forward-only list is a schedule's forwards with their transfers: GPipe's first
// half for one micro-batch, and round the ring chunk by chunk when interleaved.
TEST(ScheduleTest, ForwardOnlyIsEachChunksForwardWithItsTransfers) {
  using A = Action;
  for (int stages = 1; stages <= 8; ++stages)
    for (int s = 0; s < stages; ++s) {
      std::vector<Action> gpipe = make_schedule(ScheduleKind::GPipe, s, stages, 1);
      gpipe.resize(static_cast<size_t>(1 + (s > 0) + (s + 1 < stages)));
      EXPECT_EQ(make_forward_schedule(s, stages), gpipe) << "P=" << stages << " stage " << s;
    }
  EXPECT_EQ(make_forward_schedule(0, 2, 2), (std::vector<Action>{{A::Forward, 0, 0},
                                                                 {A::SendActivation, 0, 0},
                                                                 {A::RecvActivation, 0, 1},
                                                                 {A::Forward, 0, 1},
                                                                 {A::SendActivation, 0, 1}}));
  EXPECT_EQ(make_forward_schedule(1, 2, 2), (std::vector<Action>{{A::RecvActivation, 0, 0},
                                                                 {A::Forward, 0, 0},
                                                                 {A::SendActivation, 0, 0},
                                                                 {A::RecvActivation, 0, 1},
                                                                 {A::Forward, 0, 1}}));
}

TEST(ScheduleTest, UnknownNamesAndBadArgumentsAreRefused) {
  EXPECT_EQ(schedule_kind("1f1b"), ScheduleKind::OneFOneB);
  EXPECT_EQ(schedule_kind("gpipe"), ScheduleKind::GPipe);
  EXPECT_EQ(schedule_kind("interleaved"), ScheduleKind::Interleaved);
  EXPECT_EQ(schedule_kind("zb-h1"), ScheduleKind::ZeroBubbleH1);
  EXPECT_EQ(schedule_names(), "gpipe, 1f1b, interleaved or zb-h1");
  EXPECT_THROW(schedule_kind("zb-v"), std::invalid_argument);
  EXPECT_THROW(make_schedule(ScheduleKind::GPipe, 2, 2, 4), std::invalid_argument);
  EXPECT_THROW(make_schedule(ScheduleKind::GPipe, 0, 2, 0), std::invalid_argument);
  // Interleaving needs chunks > 1 and M divisible by P; the others take one chunk.
  EXPECT_THROW(make_schedule(ScheduleKind::Interleaved, 0, 2, 3, 2), std::invalid_argument);
  EXPECT_THROW(make_schedule(ScheduleKind::Interleaved, 0, 2, 4, 1), std::invalid_argument);
  EXPECT_THROW(make_schedule(ScheduleKind::OneFOneB, 0, 2, 4, 2), std::invalid_argument);
}

// The config refuses, and the layout search leaves out, exactly these (arguments: schedule,
// chunks per stage, stages, micro-batches, layers, ZeRO stage).
TEST(ScheduleTest, WhatEachScheduleNeedsOfTheLayout) {
  using K = ScheduleKind;
  using N = ScheduleNeed;
  for (K kind : {K::GPipe, K::OneFOneB, K::ZeroBubbleH1}) {
    EXPECT_EQ(schedule_need(kind, 1, 2, 3, 2, 0), N::Fits);
    EXPECT_EQ(schedule_need(kind, 2, 2, 4, 8, 0), N::InterleavedForChunks);
    EXPECT_EQ(schedule_need(kind, 1, 3, 4, 2, 0), N::LayerPerChunk);
    EXPECT_EQ(schedule_need(kind, 1, 1, 4, 2, 2), N::Fits);  // one stage: ZeRO 2 as without
  }
  EXPECT_EQ(schedule_need(K::OneFOneB, 1, 2, 4, 2, 2), N::Fits);
  EXPECT_EQ(schedule_need(K::GPipe, 1, 2, 4, 2, 2), N::Fits);
  EXPECT_EQ(schedule_need(K::ZeroBubbleH1, 1, 2, 4, 2, 2), N::NoStageTwoZero);
  EXPECT_EQ(schedule_need(K::ZeroBubbleH1, 1, 2, 4, 2, 1), N::Fits);
  EXPECT_EQ(schedule_need(K::Interleaved, 2, 2, 4, 4, 0), N::Fits);
  EXPECT_EQ(schedule_need(K::Interleaved, 1, 2, 4, 4, 0), N::StagesAndChunks);
  EXPECT_EQ(schedule_need(K::Interleaved, 2, 1, 4, 4, 0), N::StagesAndChunks);
  EXPECT_EQ(schedule_need(K::Interleaved, 2, 2, 3, 4, 0), N::MicrobatchesInStageGroups);
  EXPECT_EQ(schedule_need(K::Interleaved, 2, 2, 4, 3, 0), N::LayerPerChunk);
  EXPECT_EQ(schedule_need(K::Interleaved, 2, 2, 4, 4, 2), N::NoStageTwoZero);
}

}  // namespace
}  // namespace trainer
