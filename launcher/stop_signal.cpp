#include "launcher/stop_signal.h"

#include <atomic>
#include <csignal>

namespace trainer {

static std::atomic<int> received{0};

extern "C" void on_stop_signal(int sig) {
  if (sig == SIGINT && received.load() != 0) {  // asked twice: stop now
    std::signal(SIGINT, SIG_DFL);
    std::raise(SIGINT);
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

int stop_signal() { return received.load(); }

}  // namespace trainer
