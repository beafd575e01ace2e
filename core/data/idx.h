// The IDX file format of MNIST and Fashion-MNIST, raw or gzipped.
//
// Header: two zero bytes, a type code (0x08 = unsigned byte), the number of dimensions, then
// each dimension as a big-endian 32-bit integer; then the data, row-major.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace trainer {

struct IdxArray {
  std::vector<int64_t> dims;
  std::vector<uint8_t> data;  // unsigned bytes, product(dims) of them
};

// Reads and checks a file: magic number, data type, and that the data length is exactly what
// the header declares. Throws DataError naming the file and what is wrong.
IdxArray read_idx(const std::string& path, int expected_ndim);

}  // namespace trainer
