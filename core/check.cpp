#include "core/check.h"

#include <atomic>

namespace trainer {

static std::atomic<int> error_rank{-1};

void set_error_rank(int rank) { error_rank = rank; }

void report_call_failure(const char* library, long code, const std::string& text, const char* call,
                         const char* file, int line) {
  std::string where = std::string(file) + ":" + std::to_string(line);
  if (error_rank >= 0) where += " on rank " + std::to_string(error_rank.load());
  throw DeviceError(std::string(library) + " error " + std::to_string(code) + " (" + text +
                    ") in " + call + " at " + where);
}

}  // namespace trainer
