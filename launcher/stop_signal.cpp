#include "launcher/stop_signal.h"

#include <atomic>
#include <csignal>

namespace trainer {

static std::atomic<int> received{0};
static std::atomic<bool> deferred{false};

extern "C" void on_stop_signal(int sig) {
  // Before training nothing needs saving; a second stop signal means now (a step stuck in a
  // library call would otherwise never reach its boundary).
  if (!deferred.load() || received.load() != 0) {
    std::signal(sig, SIG_DFL);
    std::raise(sig);
    return;
  }
  received.store(sig);
}

void install_signal_handlers() {
  struct sigaction action = {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  std::signal(SIGXFSZ, SIG_IGN);
}

void defer_stop_signals() { deferred.store(true); }

int stop_signal() { return received.load(); }

}  // namespace trainer
