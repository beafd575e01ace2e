// Typed, checked reading of one mapping of the config.
//
// Every getter names the full key and its location when it fails; a missing optional key is
// written back with its default, so the tree becomes the resolved config; finish() rejects any
// key that was not read.
#pragma once

#include <yaml-cpp/yaml.h>

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/args.h"
#include "launcher/config_source.h"

namespace trainer {

class ConfigSection : public Args {
 public:
  // `node` must be a mapping; `path` is its key path ("optimizer", "model.layers[2]").
  ConfigSection(const ConfigSource& src, YAML::Node node, std::string path);

  int64_t integer(const std::string& key, std::optional<int64_t> def, int64_t min,
                  int64_t max = kMaxInteger) override;
  double number(const std::string& key, std::optional<double> def, double min,
                double max_exclusive) override;
  // A number strictly above zero (learning rates, time limits).
  double positive(const std::string& key, std::optional<double> def);
  bool boolean(const std::string& key, std::optional<bool> def) override;
  std::string choice(const std::string& key, std::optional<std::string> def,
                     const std::vector<std::string>& choices) override;
  std::vector<int64_t> integers(const std::string& key,
                                std::optional<std::vector<int64_t>> def) override;
  std::string text(const std::string& key, std::optional<std::string> def) override;
  [[noreturn]] void fail(const std::string& key, const std::string& what) override;

  bool has(const std::string& key) const;
  // A nested mapping; when absent and not required, an empty one is created.
  ConfigSection section(const std::string& key, bool required);
  // A nested sequence (required, non-empty).
  YAML::Node sequence(const std::string& key);
  // The raw node of a key that was read elsewhere (marks it read).
  YAML::Node raw(const std::string& key);

  // Throws ConfigError for the first key that no getter read.
  void finish() const;

  std::string key_path(const std::string& key) const {
    return path_.empty() ? key : path_ + "." + key;
  }
  const std::string& path() const { return path_; }
  std::string where() const { return src_.where(node_, path_); }
  const ConfigSource& source() const { return src_; }

 private:
  // The value node of `key`, marking it read; nullopt when missing and def_given, else throws.
  std::optional<YAML::Node> value(const std::string& key, bool def_given,
                                  const std::string& expected);
  [[noreturn]] void bad(const std::string& key, const YAML::Node& v, const std::string& expected);
  // The number `v` holds when it is one, a float holds it and in_range(it); else bad().
  template <class InRange>
  double checked_number(const std::string& key, const YAML::Node& v, const std::string& expected,
                        InRange in_range);

  const ConfigSource& src_;
  YAML::Node node_;
  std::string path_;
  std::set<std::string> read_;
};

}  // namespace trainer
