#include "core/layer_times.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <string>
#include <vector>

#ifdef TRAINER_HAS_CUDA
#include "core/cuda/timing.cuh"
#endif

namespace trainer::layer_times {

namespace {

using Clock = std::chrono::steady_clock;

struct Total {
  int64_t calls = 0;
  double ms = 0;
};

// A pass of the step in progress, between two of its marks.
struct Span {
  std::string name;
  int begin, end;
};

struct State {
  bool on = false, gpu = false;
  // The step in progress: its marks (host clock readings, or events on the compute stream).
  std::vector<Clock::time_point> host_marks;
  std::vector<void*> device_marks;
  std::vector<Span> spans;
  // Steps seen since enable(true); the first is not counted.
  int64_t steps = 0;
  double counted_seconds = 0;
  std::map<std::string, Total> totals;
};

State& state() {
  static State s;
  return s;
}

double span_ms(const State& s, const Span& span) {
#ifdef TRAINER_HAS_CUDA
  if (s.gpu) return cuda::elapsed_ms(s.device_marks[span.begin], s.device_marks[span.end]);
#endif
  return std::chrono::duration<double, std::milli>(s.host_marks[span.end] -
                                                   s.host_marks[span.begin])
      .count();
}

// Forgets the marks and spans of the step in progress.
void clear_step(State& s) {
#ifdef TRAINER_HAS_CUDA
  for (void* m : s.device_marks) cuda::release_mark(m);
#endif
  s.device_marks.clear();
  s.host_marks.clear();
  s.spans.clear();
}

}  // namespace

void enable(bool on, bool gpu) {
  State& s = state();
  clear_step(s);
  s = State{};
  s.on = on;
  s.gpu = gpu;
}

bool enabled() { return state().on; }

int mark() {
  State& s = state();
#ifdef TRAINER_HAS_CUDA
  if (s.gpu) {
    s.device_marks.push_back(cuda::record_mark());
    return static_cast<int>(s.device_marks.size()) - 1;
  }
#endif
  s.host_marks.push_back(Clock::now());
  return static_cast<int>(s.host_marks.size()) - 1;
}

void add(const char* pass, const Layer& layer, int begin) {
  // A block's child by its path (its copies in every block together), a top-level layer by its
  // index (an MLP's two linears apart).
  const std::string where = layer.path().empty() ? std::to_string(layer.index()) : layer.path();
  add_work(std::string(pass) + " " + layer.type() + " " + where, begin);
}

void add_work(const std::string& work, int begin) {
  const int end = mark();
  state().spans.push_back({work, begin, end});
}

static bool recomputing = false;

Recomputing::Recomputing() { recomputing = true; }
Recomputing::~Recomputing() { recomputing = false; }

const char* forward_pass() { return recomputing ? "recompute" : "forward"; }

void begin_step() { clear_step(state()); }

void step_done(double seconds) {
  State& s = state();
  if (!s.on) return;
  if (s.steps > 0) {
    for (const Span& span : s.spans) {
      Total& t = s.totals[span.name];
      ++t.calls;
      t.ms += span_ms(s, span);
    }
    s.counted_seconds += seconds;
  }
  ++s.steps;
  clear_step(s);
}

nlohmann::json summary() {
  const State& s = state();
  const int64_t counted = std::max<int64_t>(0, s.steps - 1);
  const double step_ms = counted ? 1e3 * s.counted_seconds / static_cast<double>(counted) : 0.0;
  std::vector<std::pair<std::string, Total>> rows(s.totals.begin(), s.totals.end());
  std::sort(rows.begin(), rows.end(),
            [](const auto& a, const auto& b) { return a.second.ms > b.second.ms; });
  nlohmann::json layers = nlohmann::json::array();
  for (const auto& [name, t] : rows) {
    const double ms = t.ms / static_cast<double>(counted);
    layers.push_back({{"name", name},
                      {"calls", t.calls / counted},
                      {"ms", ms},
                      {"share", step_ms > 0 ? ms / step_ms : 0.0}});
  }
  return {{"steps", counted}, {"step_ms", step_ms}, {"layers", layers}};
}

}  // namespace trainer::layer_times
