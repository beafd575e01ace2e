// SIGINT and SIGTERM (Ctrl-C, a scheduler's preemption) ask the run to stop. Until training
// starts they end the process at once (reading a config or data has nothing to save); from then
// on the training loop notices at the next step boundary on every rank at once, checkpoints, and
// exits cleanly. A second SIGINT or SIGTERM ends the process at once.
#pragma once

namespace trainer {

// Installs the handlers; also ignores SIGXFSZ, so that a file growing past the size limit fails
// its write (EFBIG, reported like a full disk) instead of killing the process.
void install_signal_handlers();

// From now on a stop signal waits for the training loop.
void defer_stop_signals();

// 0, or the stop signal received (SIGINT or SIGTERM).
int stop_signal();

}  // namespace trainer
