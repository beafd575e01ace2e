#include "launcher/config_source.h"

#include <map>

#include "core/error.h"

namespace trainer {

static bool contains(const YAML::Node& tree, const YAML::Node& node) {
  if (tree.is(node)) return true;
  if (tree.IsMap())
    for (const auto& kv : tree)
      if (contains(kv.second, node)) return true;
  if (tree.IsSequence())
    for (const auto& item : tree)
      if (contains(item, node)) return true;
  return false;
}

std::string ConfigSource::where(const YAML::Node& node) const {
  for (const Override& o : overrides_)
    if (contains(o.node, node)) return "--set " + o.text;
  if (!node.IsDefined() || node.Mark().is_null()) return file_;
  return file_ + ":" + std::to_string(node.Mark().line + 1);
}

// "model.layers[3].out_features" and "model.layers.3.out_features" both name the same key.
static std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> parts;
  std::string cur;
  for (char c : path) {
    if (c == '.' || c == '[' || c == ']') {
      if (!cur.empty()) parts.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) parts.push_back(cur);
  return parts;
}

static bool is_index(const std::string& s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
}

void ConfigSource::apply_override(YAML::Node& root, const std::string& assignment) {
  const size_t eq = assignment.find('=');
  const std::string path = assignment.substr(0, eq);
  const std::vector<std::string> parts = split_path(path);
  if (eq == std::string::npos || parts.empty())
    throw ConfigError("--set " + assignment + ": expected key.path=value");
  YAML::Node value;
  try {
    value = YAML::Load(assignment.substr(eq + 1));
  } catch (const YAML::Exception& e) {
    throw ConfigError("--set " + assignment + ": the value is not valid YAML: " + e.msg);
  }
  // Walk with fresh handles: assigning to a yaml-cpp handle would rebind it, not descend.
  std::vector<YAML::Node> chain{root};
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    YAML::Node cur = chain.back();
    if (cur.IsSequence()) {
      if (!is_index(parts[i]) || std::stoul(parts[i]) >= cur.size())
        throw ConfigError("--set " + assignment + ": " + parts[i] +
                          " is not an index of a list of " + std::to_string(cur.size()));
      chain.push_back(cur[std::stoul(parts[i])]);
    } else {
      if (!cur[parts[i]]) cur[parts[i]] = YAML::Node(YAML::NodeType::Map);
      chain.push_back(cur[parts[i]]);
    }
  }
  YAML::Node parent = chain.back();
  const std::string& last = parts.back();
  if (parent.IsSequence()) {
    if (!is_index(last) || std::stoul(last) >= parent.size())
      throw ConfigError("--set " + assignment + ": " + last + " is not an index of a list of " +
                        std::to_string(parent.size()));
    parent[std::stoul(last)] = value;
  } else if (parent.IsMap() || parent.IsNull()) {
    parent[last] = value;
  } else {
    throw ConfigError("--set " + assignment + ": " + path.substr(0, path.rfind(last)) +
                      " is a single value, not a section");
  }
  overrides_.push_back({assignment, value});
}

void check_duplicate_keys(const ConfigSource& src, const YAML::Node& node,
                          const std::string& path) {
  if (node.IsMap()) {
    std::map<std::string, int> first_line;
    for (const auto& kv : node) {
      const std::string key = kv.first.Scalar();
      const std::string sub = path.empty() ? key : path + "." + key;
      auto [it, inserted] = first_line.emplace(key, kv.first.Mark().line + 1);
      if (!inserted)
        throw ConfigError(src.where(kv.first) + ": " + sub +
                          ": duplicate key (first given at line " + std::to_string(it->second) +
                          ")");
      check_duplicate_keys(src, kv.second, sub);
    }
  } else if (node.IsSequence()) {
    for (size_t i = 0; i < node.size(); ++i)
      check_duplicate_keys(src, node[i], path + "[" + std::to_string(i) + "]");
  }
}

}  // namespace trainer
