// The IDX file format of MNIST and Fashion-MNIST, raw or gzipped.
//
// Header: two zero bytes, a type code (0x08 = unsigned byte, 0x0D = 32-bit float), the number of
// dimensions, then each dimension as a big-endian 32-bit integer; then the data, row-major,
// big-endian.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace trainer {

enum class IdxType : uint8_t { UByte = 0x08, Float = 0x0D };

struct IdxArray {
  IdxType type = IdxType::UByte;
  std::vector<int64_t> dims;
  std::vector<uint8_t> data;  // product(dims) unsigned bytes, or product(dims) x 4 bytes of floats
  // The float data in host byte order (type Float only).
  std::vector<float> floats() const;
};

// Reads and checks a file: magic number, data type (unsigned byte, or float when allowed), and
// that the data length is exactly what the header declares. Throws DataError naming the file and
// what is wrong.
IdxArray read_idx(const std::string& path, int expected_ndim, bool allow_float = false);

}  // namespace trainer
