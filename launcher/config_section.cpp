#include "launcher/config_section.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <sstream>

#include "core/error.h"

namespace trainer {

// The shortest text that reads back as the same double ("0.9", not "0.90000000000000002").
static std::string format_number(double v) {
  for (int precision = 6; precision < 17; ++precision) {
    std::ostringstream o;
    o.precision(precision);
    o << v;
    if (std::strtod(o.str().c_str(), nullptr) == v) return o.str();
  }
  std::ostringstream o;
  o.precision(17);
  o << v;
  return o.str();
}

static std::string describe(const YAML::Node& v) {
  if (v.IsScalar()) return "'" + v.Scalar() + "'";
  if (v.IsSequence()) return "a list";
  if (v.IsMap()) return "a mapping";
  return "nothing";
}

// Only plain (unquoted) scalars count as numbers and booleans: "1e-3" in quotes is a string.
// Defaults written back by this reader carry no tag at all.
static bool plain_scalar(const YAML::Node& v) {
  return v.IsScalar() && (v.Tag() == "?" || v.Tag().empty());
}

static bool parse_int(const YAML::Node& v, int64_t& out) {
  if (!plain_scalar(v)) return false;
  const std::string& s = v.Scalar();
  char* end = nullptr;
  errno = 0;
  const long long x = std::strtoll(s.c_str(), &end, 10);
  if (s.empty() || *end != '\0' || errno == ERANGE) return false;
  out = x;
  return true;
}

enum class Parsed { ok, not_a_number, beyond_float };

static Parsed parse_double(const YAML::Node& v, double& out) {
  if (!plain_scalar(v)) return Parsed::not_a_number;
  const std::string& s = v.Scalar();
  char* end = nullptr;
  const double x = std::strtod(s.c_str(), &end);
  if (s.empty() || *end != '\0' || std::isnan(x)) return Parsed::not_a_number;
  // Hyper-parameters are used as floats: 1e39 would become infinity there.
  if (!std::isfinite(static_cast<float>(x))) return Parsed::beyond_float;
  out = x;
  return Parsed::ok;
}

ConfigSection::ConfigSection(const ConfigSource& src, YAML::Node node, std::string path)
    : src_(src), node_(node), path_(std::move(path)) {
  if (!node_.IsMap())
    throw ConfigError(src_.where(node_) + ": " + (path_.empty() ? "the config" : path_) +
                      ": expected a mapping of keys, got " + describe(node_));
}

bool ConfigSection::has(const std::string& key) const { return static_cast<bool>(node_[key]); }

std::optional<YAML::Node> ConfigSection::value(const std::string& key, bool def_given,
                                               const std::string& expected) {
  read_.insert(key);
  YAML::Node v = node_[key];
  if (v && !v.IsNull()) return v;
  if (!def_given)
    throw ConfigError(src_.where(node_, key_path(key)) + ": " + key_path(key) +
                      ": missing; expected " + expected);
  return std::nullopt;
}

void ConfigSection::bad(const std::string& key, const YAML::Node& v, const std::string& expected) {
  throw ConfigError(src_.where(v, key_path(key)) + ": " + key_path(key) + ": expected " + expected +
                    ", got " + describe(v));
}

void ConfigSection::fail(const std::string& key, const std::string& what) {
  const YAML::Node v = node_[key];
  throw ConfigError(src_.where(v ? v : node_, key_path(key)) + ": " + key_path(key) + ": " + what);
}

int64_t ConfigSection::integer(const std::string& key, std::optional<int64_t> def, int64_t min,
                               int64_t max) {
  const std::string expected = "an integer >= " + std::to_string(min);
  const std::optional<YAML::Node> found = value(key, def.has_value(), expected.c_str());
  if (!found) {
    node_[key] = *def;
    return *def;
  }
  const YAML::Node v = *found;
  int64_t x = 0;
  if (!parse_int(v, x) || x < min) bad(key, v, expected);
  if (x > max)
    bad(key, v, "an integer in [" + std::to_string(min) + ", " + std::to_string(max) + "]");
  return x;
}

double ConfigSection::number(const std::string& key, std::optional<double> def, double min,
                             double max_exclusive) {
  const std::string expected =
      "a number in [" + format_number(min) + ", " + format_number(max_exclusive) + ")";
  const std::optional<YAML::Node> found = value(key, def.has_value(), expected.c_str());
  if (!found) {
    node_[key] = format_number(*def);
    return *def;
  }
  const YAML::Node v = *found;
  return checked_number(key, v, expected, [&](double x) { return x >= min && x < max_exclusive; });
}

double ConfigSection::positive(const std::string& key, std::optional<double> def) {
  const std::optional<YAML::Node> found = value(key, def.has_value(), "a number > 0");
  if (!found) {
    node_[key] = format_number(*def);
    return *def;
  }
  const YAML::Node v = *found;
  return checked_number(key, v, "a number > 0", [](double x) { return x > 0; });
}

template <class InRange>
double ConfigSection::checked_number(const std::string& key, const YAML::Node& v,
                                     const std::string& expected, InRange in_range) {
  double x = 0;
  const Parsed parsed = parse_double(v, x);
  if (parsed == Parsed::beyond_float)
    bad(key, v, expected + " that a float holds (magnitude below 3.4e38)");
  if (parsed != Parsed::ok || !in_range(x)) bad(key, v, expected);
  return x;
}

bool ConfigSection::boolean(const std::string& key, std::optional<bool> def) {
  const std::optional<YAML::Node> found = value(key, def.has_value(), "true or false");
  if (!found) {
    node_[key] = *def;
    return *def;
  }
  const YAML::Node v = *found;
  if (plain_scalar(v)) {
    const std::string& s = v.Scalar();
    if (s == "true" || s == "True" || s == "TRUE") return true;
    if (s == "false" || s == "False" || s == "FALSE") return false;
  }
  bad(key, v, "true or false");
}

std::string ConfigSection::choice(const std::string& key, std::optional<std::string> def,
                                  const std::vector<std::string>& choices) {
  std::string expected = "one of ";
  for (size_t i = 0; i < choices.size(); ++i) expected += (i ? ", " : "") + choices[i];
  const std::optional<YAML::Node> found = value(key, def.has_value(), expected.c_str());
  if (!found) {
    node_[key] = *def;
    return *def;
  }
  const YAML::Node v = *found;
  if (v.IsScalar())
    for (const std::string& c : choices)
      if (v.Scalar() == c) return c;
  bad(key, v, expected);
}

std::vector<int64_t> ConfigSection::integers(const std::string& key,
                                             std::optional<std::vector<int64_t>> def) {
  const char* expected = "a list of integers";
  const std::optional<YAML::Node> found = value(key, def.has_value(), expected);
  if (!found) {
    node_[key] = *def;
    node_[key].SetStyle(YAML::EmitterStyle::Flow);
    return *def;
  }
  const YAML::Node v = *found;
  if (!v.IsSequence() || v.size() == 0) bad(key, v, expected);
  std::vector<int64_t> out;
  for (const auto& item : v) {
    int64_t x = 0;
    if (!parse_int(item, x) || x > kMaxInteger) bad(key, item, expected);
    out.push_back(x);
  }
  return out;
}

std::string ConfigSection::text(const std::string& key, std::optional<std::string> def) {
  const std::optional<YAML::Node> found = value(key, def.has_value(), "a string");
  if (!found) {
    node_[key] = *def;
    return *def;
  }
  const YAML::Node v = *found;
  if (!v.IsScalar()) bad(key, v, "a string");
  return v.Scalar();
}

ConfigSection ConfigSection::section(const std::string& key, bool required) {
  read_.insert(key);
  YAML::Node v = node_[key];
  if (!v || v.IsNull()) {
    if (required)
      throw ConfigError(src_.where(node_, key_path(key)) + ": " + key_path(key) +
                        ": missing; expected a mapping");
    node_[key] = YAML::Node(YAML::NodeType::Map);
    v = node_[key];
  }
  return ConfigSection(src_, v, key_path(key));
}

YAML::Node ConfigSection::sequence(const std::string& key) {
  const YAML::Node v = *value(key, false, "a list");
  if (!v.IsSequence() || v.size() == 0) bad(key, v, "a non-empty list");
  return v;
}

YAML::Node ConfigSection::raw(const std::string& key) {
  read_.insert(key);
  return node_[key];
}

void ConfigSection::finish() const {
  for (const auto& kv : node_) {
    const std::string key = kv.first.Scalar();
    if (read_.count(key)) continue;
    std::string known;
    for (const std::string& k : read_) known += (known.empty() ? "" : ", ") + k;
    throw ConfigError(src_.where(kv.first, key_path(key)) + ": " + key_path(key) + ": unknown key" +
                      (known.empty() ? "" : "; expected one of: " + known));
  }
}

}  // namespace trainer
