// The config loader on arbitrary text: YAML (anchors, aliases, tags, nesting), every key's type
// and range, and --set overrides, which an input gives as lines "#--set key.path=value". Any
// exception but InputError (exit 2 with a message) is a finding.
#include <sstream>

#include "core/error.h"
#include "fuzz/fuzz_support.h"
#include "launcher/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> overrides;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);)
    if (line.rfind("#--set ", 0) == 0) overrides.push_back(line.substr(7));
  const std::string path = trainer::fuzz::write_input("cfg.yaml", data, size);
  try {
    trainer::load_config(path, overrides, 1);
  } catch (const trainer::InputError&) {
  }
  return 0;
}
