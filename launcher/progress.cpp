#include "launcher/progress.h"

#include <unistd.h>

#include <cmath>

namespace trainer {

using Clock = std::chrono::steady_clock;

Progress::Progress(int64_t total_steps, int64_t log_every, FILE* out)
    : total_(total_steps),
      log_every_(log_every),
      out_(out),
      tty_(out && isatty(fileno(out)) != 0),
      start_(Clock::now()),
      last_draw_(start_) {}

static std::string format_duration(double s) {
  char buf[32];
  const long t = std::lround(s);
  if (t >= 3600)
    std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
  else
    std::snprintf(buf, sizeof buf, "%ld:%02ld", t / 60, t % 60);
  return buf;
}

std::string Progress::line(int64_t step, int64_t epoch, double loss, double samples_per_s) const {
  const double elapsed = std::chrono::duration<double>(Clock::now() - start_).count();
  const int64_t done = step + 1 - first_step_;
  const double eta =
      done > 0 ? elapsed / static_cast<double>(done) * static_cast<double>(total_ - step - 1) : 0.0;
  char rate[80];
  const double tokens_per_s = samples_per_s * static_cast<double>(tokens_per_sample_);
  if (tokens_per_sample_ == 0)
    std::snprintf(rate, sizeof rate, "%.0f samples/s", samples_per_s);
  else if (mfu_.peak_flops > 0)
    std::snprintf(rate, sizeof rate, "%.0f tokens/s  MFU %.1f%%", tokens_per_s,
                  100.0 * mfu_.mfu(tokens_per_s));
  else
    std::snprintf(rate, sizeof rate, "%.0f tokens/s", tokens_per_s);
  char buf[200];
  std::snprintf(buf, sizeof buf, "step %lld/%lld  epoch %lld  loss %.4f  %s  eta %s",
                static_cast<long long>(step + 1), static_cast<long long>(total_),
                static_cast<long long>(epoch + 1), loss, rate, format_duration(eta).c_str());
  return buf;
}

void Progress::count_tokens(int64_t tokens_per_sample, const MfuBasis& basis) {
  tokens_per_sample_ = tokens_per_sample;
  mfu_ = basis;
}

void Progress::update(int64_t step, int64_t epoch, double loss, double samples_per_s) {
  if (!out_) return;
  if (first_step_ < 0) first_step_ = step;
  if (!tty_) {
    if ((step + 1) % log_every_ == 0 || step + 1 == total_)
      std::fprintf(out_, "%s\n", line(step, epoch, loss, samples_per_s).c_str());
    std::fflush(out_);
    return;
  }
  constexpr int kWidth = 24;
  const int filled = static_cast<int>(kWidth * (step + 1) / std::max<int64_t>(total_, 1));
  std::string bar(static_cast<size_t>(filled), '#');
  bar.resize(kWidth, '.');
  bar_ = "[" + bar + "] " + line(step, epoch, loss, samples_per_s);
  const auto now = Clock::now();
  if (step + 1 != total_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  draw();
}

void Progress::draw() {
  std::fprintf(out_, "\r\033[K%s", bar_.c_str());
  std::fflush(out_);
  bar_drawn_ = true;
}

void Progress::note(const std::string& message) {
  if (!out_) return;
  if (bar_drawn_) {  // the bar, brought up to date, stays on screen above the note
    draw();
    std::fprintf(out_, "\n");
  }
  std::fprintf(out_, "%s\n", message.c_str());
  std::fflush(out_);
  bar_drawn_ = false;
}

void Progress::finish() {
  if (!out_) return;
  if (bar_drawn_) std::fprintf(out_, "\n");
  std::fflush(out_);
  bar_drawn_ = false;
}

}  // namespace trainer
