// What the fuzz targets share: a scratch directory of this process, where an input becomes the
// file a reader opens (the readers under test take paths, as the program gives them).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace trainer::fuzz {

// A directory under /tmp for this process, made on first use.
const std::string& scratch_dir();

// Writes the input as <scratch>/<name>; returns its path.
std::string write_input(const std::string& name, const uint8_t* data, size_t size);

}  // namespace trainer::fuzz
