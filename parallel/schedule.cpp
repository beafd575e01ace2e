#include "parallel/schedule.h"

#include <algorithm>
#include <stdexcept>

namespace trainer {

namespace {
struct Named {
  ScheduleKind kind;
  const char* name;
};
constexpr Named kSchedules[] = {{ScheduleKind::GPipe, "gpipe"},
                                {ScheduleKind::OneFOneB, "1f1b"},
                                {ScheduleKind::Interleaved, "interleaved"},
                                {ScheduleKind::ZeroBubbleH1, "zb-h1"}};
}  // namespace

ScheduleKind schedule_kind(const std::string& name) {
  for (const Named& s : kSchedules)
    if (name == s.name) return s.kind;
  throw std::invalid_argument("unknown pipeline schedule '" + name + "'");
}

const char* schedule_name(ScheduleKind kind) {
  for (const Named& s : kSchedules)
    if (kind == s.kind) return s.name;
  return "?";
}

ScheduleNeed schedule_need(ScheduleKind kind, int64_t chunks, int64_t stages, int64_t microbatches,
                           int64_t layers, int64_t zero) {
  const bool interleaved = kind == ScheduleKind::Interleaved;
  if (chunks > 1 && !interleaved) return ScheduleNeed::InterleavedForChunks;
  if (interleaved && (chunks < 2 || stages < 2)) return ScheduleNeed::StagesAndChunks;
  if (interleaved && microbatches % stages != 0) return ScheduleNeed::MicrobatchesInStageGroups;
  if (stages * chunks > layers) return ScheduleNeed::LayerPerChunk;
  if (zero >= 2 && stages > 1 && (interleaved || kind == ScheduleKind::ZeroBubbleH1))
    return ScheduleNeed::NoStageTwoZero;
  return ScheduleNeed::Fits;
}

std::string schedule_names() {
  std::string out;
  const size_t n = std::size(kSchedules);
  for (size_t i = 0; i < n; ++i)
    out += std::string(i == 0 ? "" : i + 1 == n ? " or " : ", ") + kSchedules[i].name;
  return out;
}

namespace {

// Appends one micro-batch's forward or backward of one chunk with the transfers around it.
class Builder {
 public:
  Builder(int stage, int stages, int chunks) : stage_(stage), stages_(stages), chunks_(chunks) {}
  void forward(int mb, int chunk = 0) {
    if (!first(chunk)) out_.push_back({Action::RecvActivation, mb, chunk});
    out_.push_back({Action::Forward, mb, chunk});
    if (!last(chunk)) out_.push_back({Action::SendActivation, mb, chunk});
  }
  // The whole backward, or (`input_only`) its B half, the W half to be added by weights().
  void backward(int mb, int chunk = 0, bool input_only = false) {
    if (!last(chunk)) out_.push_back({Action::RecvGrad, mb, chunk});
    out_.push_back({input_only ? Action::BackwardInput : Action::Backward, mb, chunk});
    if (!first(chunk)) out_.push_back({Action::SendGrad, mb, chunk});
  }
  void weights(int mb) { out_.push_back({Action::BackwardWeight, mb, 0}); }
  std::vector<Action> take() { return std::move(out_); }

 private:
  // The whole model's first and last virtual stages: the data's and the loss's.
  bool first(int chunk) const { return stage_ == 0 && chunk == 0; }
  bool last(int chunk) const { return stage_ == stages_ - 1 && chunk == chunks_ - 1; }
  int stage_, stages_, chunks_;
  std::vector<Action> out_;
};

void one_f_one_b(Builder& b, int stage, int stages, int m) {
  const int warmup = std::min(stages - stage - 1, m);
  int next_forward = 0, next_backward = 0;
  for (; next_forward < warmup; ++next_forward) b.forward(next_forward);
  for (; next_forward < m; ++next_forward) {
    b.forward(next_forward);
    b.backward(next_backward++);
  }
  for (; next_backward < m; ++next_backward) b.backward(next_backward);
}

struct Slot {
  int microbatch, chunk;
};

// The k-th chunk-forward (or chunk-backward) of a stage in Megatron's interleaved order: groups
// of P micro-batches, each through every chunk in turn (backwards from the last chunk).
Slot interleaved_slot(int k, int stages, int chunks, bool forward) {
  const int in_group = k % (stages * chunks);
  const int chunk = in_group / stages;
  return {k / (stages * chunks) * stages + in_group % stages, forward ? chunk : chunks - 1 - chunk};
}

void interleaved(Builder& b, int stage, int stages, int m, int chunks) {
  const int total = m * chunks;
  const int warmup = std::min(2 * (stages - stage - 1) + (chunks - 1) * stages, total);
  int next_forward = 0, next_backward = 0;
  auto forward = [&] {
    const Slot at = interleaved_slot(next_forward++, stages, chunks, true);
    b.forward(at.microbatch, at.chunk);
  };
  auto backward = [&] {
    const Slot at = interleaved_slot(next_backward++, stages, chunks, false);
    b.backward(at.microbatch, at.chunk);
  };
  while (next_forward < warmup) forward();
  while (next_forward < total) {
    forward();
    backward();
  }
  while (next_backward < total) backward();
}

void zero_bubble_h1(Builder& b, int stage, int stages, int m) {
  const int warmup = std::min(stages - stage - 1, m);
  const int deferred = std::min(stage, m - warmup);  // W's put off to the end
  int next_forward = 0, next_backward = 0, next_weights = 0;
  for (; next_forward < warmup; ++next_forward) b.forward(next_forward);
  for (int i = 0; i < deferred; ++i) {
    b.forward(next_forward++);
    b.backward(next_backward++, 0, true);
  }
  for (; next_forward < m; ++next_forward) {
    b.forward(next_forward);
    b.backward(next_backward++, 0, true);
    b.weights(next_weights++);
  }
  for (; next_backward < m; ++next_backward) {
    b.backward(next_backward, 0, true);
    b.weights(next_weights++);
  }
  for (; next_weights < m; ++next_weights) b.weights(next_weights);
}

}  // namespace

std::vector<Action> make_schedule(ScheduleKind kind, int stage, int stages, int microbatches,
                                  int chunks) {
  const bool chunked = kind == ScheduleKind::Interleaved;
  if (stages < 1 || stage < 0 || stage >= stages || microbatches < 1 || chunks < 1 ||
      (chunks > 1) != chunked || (chunked && microbatches % stages != 0))
    throw std::invalid_argument(std::string("make_schedule: ") + schedule_name(kind) + ", stage " +
                                std::to_string(stage) + " of " + std::to_string(stages) + ", " +
                                std::to_string(microbatches) + " micro-batches, " +
                                std::to_string(chunks) + " chunks per stage");
  Builder b(stage, stages, chunks);
  switch (kind) {
    case ScheduleKind::GPipe:
      for (int mb = 0; mb < microbatches; ++mb) b.forward(mb);
      for (int mb = 0; mb < microbatches; ++mb) b.backward(mb);
      break;
    case ScheduleKind::OneFOneB:
      one_f_one_b(b, stage, stages, microbatches);
      break;
    case ScheduleKind::Interleaved:
      interleaved(b, stage, stages, microbatches, chunks);
      break;
    case ScheduleKind::ZeroBubbleH1:
      zero_bubble_h1(b, stage, stages, microbatches);
      break;
  }
  return b.take();
}

std::vector<Action> make_forward_schedule(int stage, int stages, int chunks) {
  Builder b(stage, stages, chunks);
  for (int c = 0; c < chunks; ++c) b.forward(0, c);
  return b.take();
}

double ideal_bubble(int stages, int microbatches, ScheduleKind kind, int chunks) {
  double idle_slots = stages - 1;
  double work_slots = microbatches;  // per stage, in units of the idle slot
  if (kind == ScheduleKind::Interleaved) work_slots = static_cast<double>(microbatches) * chunks;
  if (kind == ScheduleKind::ZeroBubbleH1) {  // slots of one F, B or W
    work_slots = 3.0 * microbatches;
    // Fewer micro-batches than stages leave too few W's to fill the first stage's wait.
    idle_slots += std::max(0, stages - microbatches);
  }
  return idle_slots / (work_slots + idle_slots);
}

double peak_microbatches_held(ScheduleKind kind, int stage, int stages, int microbatches,
                              int chunks) {
  switch (kind) {
    case ScheduleKind::GPipe:
      return microbatches;
    case ScheduleKind::OneFOneB:
      return std::min(microbatches, stages - stage);
    case ScheduleKind::Interleaved: {
      const int warmup = 2 * (stages - stage - 1) + (chunks - 1) * stages;
      return static_cast<double>(std::min(warmup + 1, microbatches * chunks)) / chunks;
    }
    case ScheduleKind::ZeroBubbleH1:
      return std::min(microbatches, stages);
  }
  return 0.0;
}

}  // namespace trainer
