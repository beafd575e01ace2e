#include "fuzz/fuzz_support.h"

#include <cstdio>
#include <cstdlib>
#include <stdexcept>

namespace trainer::fuzz {

const std::string& scratch_dir() {
  static const std::string dir = [] {
    char pattern[] = "/tmp/trainer-fuzz-XXXXXX";
    if (!mkdtemp(pattern)) throw std::runtime_error("cannot make a scratch directory");
    return std::string(pattern);
  }();
  return dir;
}

std::string write_input(const std::string& name, const uint8_t* data, size_t size) {
  const std::string path = scratch_dir() + "/" + name;
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f || std::fwrite(data, 1, size, f) != size || std::fclose(f) != 0)
    throw std::runtime_error("cannot write " + path);
  return path;
}

}  // namespace trainer::fuzz
