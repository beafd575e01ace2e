#include "parallel/schedule.h"

#include <algorithm>
#include <stdexcept>

namespace trainer {

ScheduleKind schedule_kind(const std::string& name) {
  if (name == "gpipe") return ScheduleKind::GPipe;
  if (name == "1f1b") return ScheduleKind::OneFOneB;
  throw std::invalid_argument("unknown pipeline schedule '" + name + "'");
}

namespace {

// Appends one micro-batch's forward or backward with the transfers around it.
class Builder {
 public:
  Builder(int stage, int stages) : first_(stage == 0), last_(stage == stages - 1) {}
  void forward(int mb) {
    if (!first_) out_.push_back({Action::RecvActivation, mb});
    out_.push_back({Action::Forward, mb});
    if (!last_) out_.push_back({Action::SendActivation, mb});
  }
  void backward(int mb) {
    if (!last_) out_.push_back({Action::RecvGrad, mb});
    out_.push_back({Action::Backward, mb});
    if (!first_) out_.push_back({Action::SendGrad, mb});
  }
  std::vector<Action> take() { return std::move(out_); }

 private:
  bool first_, last_;
  std::vector<Action> out_;
};

}  // namespace

std::vector<Action> make_schedule(ScheduleKind kind, int stage, int stages, int microbatches) {
  if (stages < 1 || stage < 0 || stage >= stages || microbatches < 1)
    throw std::invalid_argument("make_schedule: stage " + std::to_string(stage) + " of " +
                                std::to_string(stages) + ", " + std::to_string(microbatches) +
                                " micro-batches");
  Builder b(stage, stages);
  if (kind == ScheduleKind::GPipe) {
    for (int mb = 0; mb < microbatches; ++mb) b.forward(mb);
    for (int mb = 0; mb < microbatches; ++mb) b.backward(mb);
    return b.take();
  }
  const int warmup = std::min(stages - stage - 1, microbatches);
  int next_forward = 0, next_backward = 0;
  for (; next_forward < warmup; ++next_forward) b.forward(next_forward);
  for (; next_forward < microbatches; ++next_forward) {
    b.forward(next_forward);
    b.backward(next_backward++);
  }
  for (; next_backward < microbatches; ++next_backward) b.backward(next_backward);
  return b.take();
}

double ideal_bubble(int stages, int microbatches) {
  return static_cast<double>(stages - 1) / static_cast<double>(microbatches + stages - 1);
}

}  // namespace trainer
