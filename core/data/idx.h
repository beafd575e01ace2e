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

// The most data an IDX file may declare (4 GiB; Fashion-MNIST's training images are 47 MB).
constexpr uint64_t kMaxIdxBytes = uint64_t{1} << 32;

// Reads and checks a file: magic number, data type (unsigned byte, or float when allowed), and
// that every dimension is at least 1 and the data length exactly what the header declares (gzip
// streams are checked as they are inflated). Throws DataError naming the file and what is wrong.
IdxArray read_idx(const std::string& path, int expected_ndim, bool allow_float = false);

}  // namespace trainer
