// Timelines: spans of compute and communication, per rank, written as Chrome trace JSON
// (Perfetto and chrome://tracing open it). Off unless `log.trace: true`; when off, recording
// costs one branch.
//
// Tracks (Chrome "threads") keep what runs concurrently apart: the caller's compute, and the
// collectives that run on the communication thread; the schedule track shows a pipeline
// schedule's compute actions ("F 3", "B 3", "W 3": micro-batch 3), each around its layers'
// spans.
#pragma once

#include <chrono>
#include <string>

namespace trainer::trace {

using Clock = std::chrono::steady_clock;

enum class Track { Compute = 0, Communication = 1, Wait = 2, Schedule = 3 };

// enable(true) starts a new recording: what an earlier one held is dropped.
void enable(bool on);
bool enabled();
// Stops recording and keeps what was recorded (for write).
void pause();

// Thread-safe. `args_json`, when not empty, is a JSON object text shown with the span.
void span(const std::string& name, Track track, Clock::time_point begin, Clock::time_point end,
          const std::string& args_json = "");

// Writes what was recorded as {"traceEvents": [...]} with pid = rank; the time origin is the
// enable(true) call, so ranks that enable right after a collective line up.
void write(const std::string& path, int rank);

// Records a span from construction to destruction, when tracing is on.
class Scope {
 public:
  Scope(const char* name, Track track = Track::Compute)
      : name_(name), track_(track), begin_(enabled() ? Clock::now() : Clock::time_point()) {}
  ~Scope() {
    if (begin_ != Clock::time_point()) span(name_, track_, begin_, Clock::now());
  }
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;

 private:
  const char* name_;
  Track track_;
  Clock::time_point begin_;
};

}  // namespace trainer::trace
