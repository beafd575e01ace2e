// Pipeline schedules as data: for one stage, the ordered actions of one training step over M
// micro-batches. A pure function of (kind, stage, stages, microbatches, chunks); the executor
// runs the list (looking ahead in it to post receives early), and tests simulate all stages'
// lists together without any communication.
//
// Sends are asynchronous (the executor does not wait for a send before its next action) and
// receives block: the schedules are deadlock-free under exactly that rule, which the simulation
// in the tests checks.
//
// A stage may hold several chunks of the model (interleaved: `chunks` = V virtual stages per
// rank): chunk c of stage s is the model's virtual stage v = c P + s, its layers the v-th of P V
// contiguous pieces. Activations flow v -> v + 1 (stage s to s + 1, and from the last stage back
// to the first one's next chunk); gradients flow back the same way.
#pragma once

#include <string>
#include <vector>

namespace trainer {

enum class ScheduleKind { GPipe, OneFOneB, Interleaved, ZeroBubbleH1 };

// "gpipe" / "1f1b" / "interleaved" / "zb-h1"; throws std::invalid_argument otherwise.
ScheduleKind schedule_kind(const std::string& name);
const char* schedule_name(ScheduleKind kind);
// The names above, for messages: "gpipe, 1f1b, interleaved or zb-h1".
std::string schedule_names();

// The first thing a layout lacks for a schedule with `chunks` model chunks per stage, or Fits:
// the config names the key to change, the layout search leaves the combination out.
enum class ScheduleNeed {
  Fits,
  InterleavedForChunks,       // chunks > 1 only under the interleaved schedule
  StagesAndChunks,            // interleaved needs >= 2 stages and >= 2 chunks per stage
  MicrobatchesInStageGroups,  // interleaved takes micro-batches in groups of the stages
  LayerPerChunk,              // every chunk of every stage holds at least one layer
  NoStageTwoZero,             // ZeRO 2 reduces each micro-batch's gradients as its backward
                              // ends, which zb-h1 and interleaved interleave with others'
};
ScheduleNeed schedule_need(ScheduleKind kind, int64_t chunks, int64_t stages, int64_t microbatches,
                           int64_t layers, int64_t zero);

struct Action {
  // Backward is the whole backward of a chunk; zb-h1 splits it into BackwardInput (B: the
  // gradient of the input, which the previous stage waits for) and BackwardWeight (W: the
  // parameters' gradients, which nobody waits for and so can fill the bubble).
  enum Kind {
    Forward,
    Backward,
    BackwardInput,
    BackwardWeight,
    SendActivation,
    RecvActivation,
    SendGrad,
    RecvGrad
  };
  Kind kind;
  int microbatch;
  int chunk = 0;  // the stage's chunk (virtual stage chunk x P + stage)
  bool operator==(const Action& o) const {
    return kind == o.kind && microbatch == o.microbatch && chunk == o.chunk;
  }
};

// GPipe: all forwards, then all backwards; every micro-batch's activations are held at once.
// 1F1B: stage s runs P - s - 1 forwards to fill the pipeline, then alternates one forward and
// one backward, then drains; stage s holds at most P - s micro-batches' activations.
// Interleaved (Megatron-LM's interleaved 1F1B, chunks V > 1, M divisible by P): micro-batches in
// groups of P go through chunk 0, then chunk 1, ...; stage s runs 2 (P - s - 1) + (V - 1) P
// chunk-forwards first, then alternates; the bubble is divided by V, the activations held grow to
// those of (2 (P - s - 1) + (V - 1) P + 1) chunks.
// zb-h1 (Qi et al., "Zero Bubble Pipeline Parallelism", schedule H1): 1F1B's order, with each
// backward split into B and W; stage s defers its first s W's (it sends the gradient back sooner,
// shortening the chain of backwards the earlier stages wait on) and runs them once its backwards
// are done, where 1F1B would idle. With F, B and W of equal cost the bubble is a third of 1F1B's;
// stage s holds at most min(M, P) micro-batches' activations (1F1B's peak, on every stage).
// Backwards (W's under zb-h1) run in micro-batch order, chunk 0's last, so the last action of
// compute on every stage completes micro-batch M - 1's gradients: the data-parallel reducer
// communicates during that one.
std::vector<Action> make_schedule(ScheduleKind kind, int stage, int stages, int microbatches,
                                  int chunks = 1);

// Evaluation: one micro-batch forward through each of the stage's chunks in turn, with the
// transfers around each (as every schedule has them).
std::vector<Action> make_forward_schedule(int stage, int stages, int chunks = 1);

// The fraction of a step a stage idles in an ideal pipeline of equal stages, transfers free:
// (P - 1) / (M + P - 1) for GPipe and 1F1B; (P - 1) / (V M + P - 1) interleaved; with F, B and W
// of equal cost (P - 1) / (3 M + P - 1) for zb-h1 when M >= P (and (2 P - M - 1) /
// (2 M + 2 P - 1) below: too few W's to fill the bubble).
double ideal_bubble(int stages, int microbatches, ScheduleKind kind = ScheduleKind::OneFOneB,
                    int chunks = 1);

// The most micro-batches whose activations stage `stage` holds at once, in units of a whole
// stage's (an interleaved chunk's count 1/V each), as the schedule above promises.
double peak_microbatches_held(ScheduleKind kind, int stage, int stages, int microbatches,
                              int chunks = 1);

}  // namespace trainer
