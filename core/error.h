// Typed errors thrown by the library. Only launcher/ turns them into a message and an exit code.
#pragma once

#include <stdexcept>
#include <string>

namespace trainer {

// Input the user must fix before a run can start. Exit code 2.
class InputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A config value, a model shape that does not fit.
class ConfigError : public InputError {
 public:
  using InputError::InputError;
};

// A data file that cannot be used: missing, truncated, wrong magic.
class DataError : public InputError {
 public:
  using InputError::InputError;
};

// Memory a run asks for that the machine or device does not have (a model too large for it):
// the user must choose a smaller model or batch, or more devices. Exit code 2.
class MemoryError : public InputError {
 public:
  using InputError::InputError;
};

// A checkpoint that cannot be written or does not fit the run. Exit code 2 on resume.
class CheckpointError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A run file (metrics, summary, a checkpoint's parts) that cannot be written: a full disk, a
// read-only or vanished directory.
class OutputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A programming error inside the engine (shape mismatch between ops and the like).
class InternalError : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

}  // namespace trainer
