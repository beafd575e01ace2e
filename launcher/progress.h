// Rank 0's progress: a live bar on a terminal, plain lines in a log.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

#include "launcher/mfu.h"

namespace trainer {

class Progress {
 public:
  // out == nullptr: silent (ranks other than 0).
  Progress(int64_t total_steps, int64_t log_every, FILE* out);
  // After each step; draws the bar (terminal, at most 10 times a second) or prints a line every
  // log_every steps (log). `loss` is the mean over the steps since the last report.
  void update(int64_t step, int64_t epoch, double loss, double samples_per_s);
  // A language model: the line shows tokens/s (`tokens_per_sample` x samples/s) and, where the
  // basis knows the devices' peak, MFU, instead of samples/s.
  void count_tokens(int64_t tokens_per_sample, const MfuBasis& basis);
  // A message that must not be overwritten by the bar (evaluation results, checkpoints).
  void note(const std::string& message);
  void finish();

 private:
  std::string line(int64_t step, int64_t epoch, double loss, double samples_per_s) const;
  void draw();  // the bar, on a terminal

  int64_t total_, log_every_, first_step_ = -1;
  int64_t tokens_per_sample_ = 0;  // 0: count samples
  MfuBasis mfu_;
  FILE* out_;
  bool tty_;
  bool bar_drawn_ = false;
  std::string bar_;  // the latest bar, drawn at most 10 times a second
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace trainer
