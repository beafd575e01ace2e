// Named hyper-parameters of a layer, optimizer or data set, read by its factory.
//
// The config loader implements Args over YAML so that every error names the file, line and key,
// and after the factory has read what it knows it rejects any key left unread. The library
// itself never sees YAML.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace trainer {

class Args {
 public:
  virtual ~Args() = default;
  // Each getter throws ConfigError naming the key when the value is missing (and no default is
  // given), of the wrong type, or out of range.
  // An integer in [min, max]: by default one that fits an int32 (counts, sizes, steps), so that
  // no key is truncated where it is used; a seed asks for the full range.
  static constexpr int64_t kMaxInteger = 2147483647;
  virtual int64_t integer(const std::string& key, std::optional<int64_t> def, int64_t min,
                          int64_t max = kMaxInteger) = 0;
  // A number in [min, max_exclusive), and one that a float holds (hyper-parameters are floats).
  virtual double number(const std::string& key, std::optional<double> def, double min,
                        double max_exclusive) = 0;
  virtual bool boolean(const std::string& key, std::optional<bool> def) = 0;
  virtual std::string choice(const std::string& key, std::optional<std::string> def,
                             const std::vector<std::string>& choices) = 0;
  virtual std::vector<int64_t> integers(const std::string& key,
                                        std::optional<std::vector<int64_t>> def) = 0;
  virtual std::string text(const std::string& key, std::optional<std::string> def) = 0;
  // A value that is well-formed but does not fit (a shape mismatch): ConfigError naming the key.
  [[noreturn]] virtual void fail(const std::string& key, const std::string& what) = 0;
};

}  // namespace trainer
