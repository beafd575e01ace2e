#include "core/data/idx.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "core/data/input_bytes.h"
#include "core/error.h"

namespace trainer {

static uint32_t big_endian32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

std::vector<float> IdxArray::floats() const {
  std::vector<float> out(data.size() / 4);
  for (size_t i = 0; i < out.size(); ++i) {
    const uint32_t bits = big_endian32(data.data() + 4 * i);
    std::memcpy(&out[i], &bits, 4);
  }
  return out;
}

IdxArray read_idx(const std::string& path, int expected_ndim, bool allow_float) {
  InputBytes in(path);
  uint8_t head[4 + 4 * 4];
  const size_t got_magic = in.read(head, 4);
  if (got_magic < 4)
    throw DataError(path + ": not an IDX file (" + std::to_string(got_magic) + " bytes)");
  const uint32_t magic = big_endian32(head);
  const uint32_t ubyte_magic = 0x0800u | static_cast<uint32_t>(expected_ndim);
  const uint32_t float_magic = 0x0D00u | static_cast<uint32_t>(expected_ndim);
  IdxArray a;
  if (magic == ubyte_magic) {
    a.type = IdxType::UByte;
  } else if (allow_float && magic == float_magic) {
    a.type = IdxType::Float;
  } else {
    char got[16], want[64];
    std::snprintf(got, sizeof got, "0x%08x", magic);
    if (allow_float)
      std::snprintf(want, sizeof want, "0x%08x or 0x%08x", ubyte_magic, float_magic);
    else
      std::snprintf(want, sizeof want, "0x%08x", ubyte_magic);
    throw DataError(path + ": wrong magic number " + got + ", expected " + want + " (" +
                    (allow_float ? "unsigned-byte or float" : "unsigned-byte") + " IDX with " +
                    std::to_string(expected_ndim) + " dimension" + (expected_ndim > 1 ? "s" : "") +
                    ")");
  }
  const size_t header = 4 + 4 * static_cast<size_t>(expected_ndim);
  const size_t got_dims = in.read(head + 4, header - 4);
  if (got_dims < header - 4)
    throw DataError(path + ": truncated: the header needs " + std::to_string(header) +
                    " bytes, the file holds " + std::to_string(4 + got_dims));
  // Each dimension is a 32-bit count: their product is checked, so that no size wraps around.
  uint64_t count = a.type == IdxType::Float ? 4 : 1;
  std::string dims_text;
  for (int d = 0; d < expected_ndim; ++d) {
    const uint32_t dim = big_endian32(head + 4 + 4 * d);
    dims_text += (d ? " x " : "") + std::to_string(dim);
    if (dim == 0)
      throw DataError(path + ": the header declares " + dims_text +
                      "...: every dimension must be at least 1");
    a.dims.push_back(dim);
    if (__builtin_mul_overflow(count, uint64_t{dim}, &count) || count > kMaxIdxBytes)
      throw DataError(path + ": the header declares " + dims_text + "...: more than " +
                      std::to_string(kMaxIdxBytes) +
                      " bytes of data, the most an IDX file may hold");
  }
  // Read what the header declares and not a byte more: the data grows as it arrives, so a false
  // header costs no memory, and a gzip bomb stops at the first byte past the declared size.
  const auto declared = [&] {
    return "the header declares " + dims_text + (a.type == IdxType::Float ? " floats" : "") +
           " = " + std::to_string(count) + " bytes of data";
  };
  constexpr size_t chunk = size_t{1} << 20;
  while (a.data.size() < count) {
    const size_t before = a.data.size(), want = std::min<uint64_t>(chunk, count - before);
    a.data.resize(before + want);
    const size_t got = in.read(a.data.data() + before, want);
    a.data.resize(before + got);
    if (got < want)
      throw DataError(path + ": truncated: " + declared() + ", the file holds " +
                      std::to_string(a.data.size()));
  }
  if (!in.at_end())
    throw DataError(path + ": longer than its header: " + declared() + ", the file holds more");
  return a;
}

}  // namespace trainer
