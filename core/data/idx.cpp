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

IdxArray read_idx(const std::string& path, int expected_ndim) {
  std::vector<uint8_t> bytes = read_all(path);
  const uint32_t expected_magic = 0x0800u | static_cast<uint32_t>(expected_ndim);
  if (bytes.size() < 4)
    throw DataError(path + ": not an IDX file (" + std::to_string(bytes.size()) + " bytes)");
  const uint32_t magic = (uint32_t{bytes[0]} << 24) | (uint32_t{bytes[1]} << 16) |
                         (uint32_t{bytes[2]} << 8) | bytes[3];
  if (magic != expected_magic) {
    char got[16], want[16];
    std::snprintf(got, sizeof got, "0x%08x", magic);
    std::snprintf(want, sizeof want, "0x%08x", expected_magic);
    throw DataError(path + ": wrong magic number " + got + ", expected " + want +
                    " (unsigned-byte IDX with " + std::to_string(expected_ndim) + " dimension" +
                    (expected_ndim > 1 ? "s" : "") + ")");
  }
  const size_t header = 4 + 4 * static_cast<size_t>(expected_ndim);
  if (bytes.size() < header)
    throw DataError(path + ": truncated: the header needs " + std::to_string(header) +
                    " bytes, the file holds " + std::to_string(bytes.size()));
  IdxArray a;
  uint64_t count = 1;
  std::string dims_text;
  for (int d = 0; d < expected_ndim; ++d) {
    const uint8_t* p = bytes.data() + 4 + 4 * d;
    const int64_t dim = (int64_t{p[0]} << 24) | (int64_t{p[1]} << 16) | (int64_t{p[2]} << 8) | p[3];
    a.dims.push_back(dim);
    count *= static_cast<uint64_t>(dim);
    dims_text += (d ? " x " : "") + std::to_string(dim);
  }
  const uint64_t have = bytes.size() - header;
  if (have != count)
    throw DataError(path + ": " + (have < count ? "truncated" : "longer than its header") +
                    ": the header declares " + dims_text + " = " + std::to_string(count) +
                    " bytes of data, the file holds " + std::to_string(have));
  a.data.assign(bytes.begin() + static_cast<std::ptrdiff_t>(header), bytes.end());
  return a;
}

}  // namespace trainer
