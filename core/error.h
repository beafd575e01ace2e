// Typed errors thrown by the library. Only launcher/ turns them into a message and an exit code.
#pragma once

#include <stdexcept>
#include <string>

namespace trainer {

// Bad user input: a config value, a model shape that does not fit. Exit code 2.
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A data file that cannot be used: missing, truncated, wrong magic. Exit code 2.
class DataError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A checkpoint that cannot be written or does not fit the run. Exit code 2 on resume.
class CheckpointError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A programming error inside the engine (shape mismatch between ops and the like).
class InternalError : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

}  // namespace trainer
