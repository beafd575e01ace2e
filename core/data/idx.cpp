#include "core/data/idx.h"

#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "core/error.h"

namespace trainer {

// gzread reads raw files unchanged, so one path serves both forms.
static std::vector<uint8_t> read_all(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) throw DataError(path + ": cannot open: " + std::strerror(errno));
  std::unique_ptr<gzFile_s, int (*)(gzFile)> guard(f, gzclose);
  std::vector<uint8_t> out;
  uint8_t buf[1 << 16];
  for (;;) {
    const int n = gzread(f, buf, sizeof buf);
    if (n < 0) {
      int code = 0;
      const char* msg = gzerror(f, &code);
      throw DataError(path + ": cannot read: " + (code == Z_ERRNO ? std::strerror(errno) : msg));
    }
    if (n == 0) break;
    out.insert(out.end(), buf, buf + n);
  }
  int code = 0;
  const char* msg = gzerror(f, &code);
  if (code != Z_OK) throw DataError(path + ": gzip stream is corrupt or truncated (" + msg + ")");
  return out;
}

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
  std::vector<uint8_t> bytes = read_all(path);
  if (bytes.size() < 4)
    throw DataError(path + ": not an IDX file (" + std::to_string(bytes.size()) + " bytes)");
  const uint32_t magic = big_endian32(bytes.data());
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
  if (bytes.size() < header)
    throw DataError(path + ": truncated: the header needs " + std::to_string(header) +
                    " bytes, the file holds " + std::to_string(bytes.size()));
  uint64_t count = 1;
  std::string dims_text;
  for (int d = 0; d < expected_ndim; ++d) {
    const int64_t dim = big_endian32(bytes.data() + 4 + 4 * d);
    a.dims.push_back(dim);
    count *= static_cast<uint64_t>(dim);
    dims_text += (d ? " x " : "") + std::to_string(dim);
  }
  if (a.type == IdxType::Float) count *= 4;
  const uint64_t have = bytes.size() - header;
  if (have != count)
    throw DataError(path + ": " + (have < count ? "truncated" : "longer than its header") +
                    ": the header declares " + dims_text +
                    (a.type == IdxType::Float ? " floats" : "") + " = " + std::to_string(count) +
                    " bytes of data, the file holds " + std::to_string(have));
  a.data.assign(bytes.begin() + static_cast<std::ptrdiff_t>(header), bytes.end());
  return a;
}

}  // namespace trainer
