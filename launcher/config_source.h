// Where a config value came from, for error messages: a line of the YAML file or a --set flag.
#pragma once

#include <yaml-cpp/yaml.h>

#include <string>
#include <vector>

namespace trainer {

class ConfigSource {
 public:
  explicit ConfigSource(std::string file) : file_(std::move(file)) {}
  const std::string& file() const { return file_; }

  // Parses `key.path=value` and writes value into root; remembers it for error locations.
  // Throws ConfigError for a malformed override or a path that does not exist.
  void apply_override(YAML::Node& root, const std::string& assignment);

  // "cfg.yaml:12" for a node of the file, "--set a.b=1" for one an override wrote.
  std::string where(const YAML::Node& node) const;
  // The same for the key at `key_path` ("model.layers[3].out_features"): the latest override
  // that wrote it, a section above it or a key below it; else where(node).
  std::string where(const YAML::Node& node, const std::string& key_path) const;

 private:
  struct Override {
    std::string text;
    YAML::Node node;
    std::vector<std::string> parts;  // the key path it wrote
  };
  std::string file_;
  std::vector<Override> overrides_;
};

// Rejects a key that appears twice in one mapping anywhere in the tree (yaml-cpp keeps both).
void check_duplicate_keys(const ConfigSource& src, const YAML::Node& node, const std::string& path);

}  // namespace trainer
