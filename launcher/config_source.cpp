#include "launcher/config_source.h"

#include <algorithm>
#include <map>

#include "core/error.h"
#include "launcher/yaml_guard.h"

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
  for (auto o = overrides_.rbegin(); o != overrides_.rend(); ++o)
    if (contains(o->node, node)) return "--set " + o->text;
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

// Whether one key path lies on the other's way (a prefix of it, or the same).
static bool on_the_way(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  const size_t n = std::min(a.size(), b.size());
  return std::equal(a.begin(), a.begin() + static_cast<std::ptrdiff_t>(n), b.begin());
}

std::string ConfigSource::where(const YAML::Node& node, const std::string& key_path) const {
  // The override that wrote this key, or the sections on the way to it, or a key below it.
  const std::vector<std::string> parts = split_path(key_path);
  if (parts.empty()) return where(node);
  for (auto o = overrides_.rbegin(); o != overrides_.rend(); ++o)
    if (on_the_way(o->parts, parts)) return "--set " + o->text;
  return where(node);
}

static bool list_part(const std::string& part) {
  return !part.empty() && part.find_first_not_of("0123456789") == std::string::npos;
}

// The index `part` names in a list of `size`, or throws.
static size_t list_index(const std::string& part, size_t size, const std::string& assignment) {
  if (!list_part(part) || part.size() > 9 || std::stoul(part) >= size)
    throw ConfigError("--set " + assignment + ": " + part + " is not an index of a list of " +
                      std::to_string(size));
  return std::stoul(part);
}

void ConfigSource::apply_override(YAML::Node& root, const std::string& assignment) {
  const size_t eq = assignment.find('=');
  const std::string path = assignment.substr(0, eq);
  const std::vector<std::string> parts = split_path(path);
  if (eq == std::string::npos || parts.empty())
    throw ConfigError("--set " + assignment + ": expected key.path=value");
  const std::string text = assignment.substr(eq + 1);
  check_yaml_aliases(text, "--set " + assignment, false);
  YAML::Node value;
  try {
    value = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw ConfigError("--set " + assignment + ": the value is not valid YAML: " + e.msg);
  }
  // Walk with fresh handles: assigning to a yaml-cpp handle would rebind it, not descend.
  std::vector<YAML::Node> chain{root};
  for (size_t i = 0; i < parts.size(); ++i) {
    YAML::Node cur = chain.back();
    const bool last = i + 1 == parts.size();
    if (cur.IsSequence()) {
      const size_t at = list_index(parts[i], cur.size(), assignment);
      if (last)
        cur[at] = value;
      else
        chain.push_back(cur[at]);
    } else if (cur.IsMap() || cur.IsNull()) {
      if (last)
        cur[parts[i]] = value;
      else if (!cur[parts[i]] || cur[parts[i]].IsNull())
        cur[parts[i]] = YAML::Node(YAML::NodeType::Map);
      if (!last) chain.push_back(cur[parts[i]]);
    } else {
      std::string section;
      for (size_t j = 0; j < i; ++j)
        section += list_part(parts[j]) ? "[" + parts[j] + "]" : (j ? "." : "") + parts[j];
      throw ConfigError("--set " + assignment + ": " + section +
                        " is a single value, not a section");
    }
  }
  overrides_.push_back({assignment, value, parts});
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
