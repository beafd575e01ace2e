#include "core/trace.h"

#include <atomic>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <vector>

#include "core/error.h"

namespace trainer::trace {

namespace {

struct Event {
  std::string name, args;
  Track track;
  Clock::time_point begin, end;
};

struct Recorder {
  std::atomic<bool> on{false};
  std::mutex mu;
  std::vector<Event> events;
  Clock::time_point origin;
};

Recorder& recorder() {
  static Recorder r;
  return r;
}

const char* track_name(Track t) {
  switch (t) {
    case Track::Compute:
      return "compute";
    case Track::Communication:
      return "communication";
    case Track::Wait:
      return "wait";
    case Track::Schedule:
      return "schedule";
  }
  return "?";
}

double micros(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

}  // namespace

void enable(bool on) {
  Recorder& r = recorder();
  std::lock_guard<std::mutex> lock(r.mu);
  if (on && !r.on) {
    r.events.clear();
    r.origin = Clock::now();
  }
  r.on = on;
}

bool enabled() { return recorder().on.load(std::memory_order_relaxed); }

void pause() { recorder().on = false; }

void span(const std::string& name, Track track, Clock::time_point begin, Clock::time_point end,
          const std::string& args_json) {
  Recorder& r = recorder();
  if (!r.on) return;
  std::lock_guard<std::mutex> lock(r.mu);
  r.events.push_back({name, args_json, track, begin, end});
}

void write(const std::string& path, int rank) {
  Recorder& r = recorder();
  std::lock_guard<std::mutex> lock(r.mu);
  nlohmann::json events = nlohmann::json::array();
  events.push_back({{"name", "process_name"},
                    {"ph", "M"},
                    {"pid", rank},
                    {"args", {{"name", "rank " + std::to_string(rank)}}}});
  for (Track t : {Track::Compute, Track::Communication, Track::Wait, Track::Schedule})
    events.push_back({{"name", "thread_name"},
                      {"ph", "M"},
                      {"pid", rank},
                      {"tid", static_cast<int>(t)},
                      {"args", {{"name", track_name(t)}}}});
  for (const Event& e : r.events) {
    nlohmann::json ev = {{"name", e.name},
                         {"cat", track_name(e.track)},
                         {"ph", "X"},
                         {"pid", rank},
                         {"tid", static_cast<int>(e.track)},
                         {"ts", micros(e.begin - r.origin)},
                         {"dur", micros(e.end - e.begin)}};
    if (!e.args.empty()) ev["args"] = nlohmann::json::parse(e.args);
    events.push_back(std::move(ev));
  }
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp);
    out << nlohmann::json{{"traceEvents", events}, {"displayTimeUnit", "ms"}}.dump() << '\n';
    if (!out) throw CheckpointError("cannot write the trace " + tmp);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0)
    throw CheckpointError("cannot write the trace " + path);
}

}  // namespace trainer::trace
