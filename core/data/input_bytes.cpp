#include "core/data/input_bytes.h"

#include <cerrno>
#include <cstring>

#include "core/error.h"
#include "core/file_access.h"

namespace trainer {

InputBytes::InputBytes(const std::string& path) : path_(path), in_(1 << 16) {
  require_regular_file(path);
  file_ = std::fopen(path.c_str(), "rb");
  if (!file_) throw DataError(path + ": cannot open: " + std::strerror(errno));
  uint8_t magic[2] = {0, 0};
  const size_t n = std::fread(magic, 1, 2, file_);
  gzip_ = n == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
  std::rewind(file_);
  if (gzip_ && inflateInit2(&z_, 16 + MAX_WBITS) != Z_OK) {  // 16: a gzip header, not zlib's
    std::fclose(file_);
    throw DataError(path + ": cannot start gzip decompression");
  }
}

InputBytes::~InputBytes() {
  if (gzip_) inflateEnd(&z_);
  if (file_) std::fclose(file_);
}

size_t InputBytes::read(uint8_t* dst, size_t n) {
  size_t got = 0;
  if (peeked_ >= 0 && n > 0) {
    dst[got++] = static_cast<uint8_t>(peeked_);
    peeked_ = -1;
  }
  if (!gzip_) {
    got += std::fread(dst + got, 1, n - got, file_);
    if (std::ferror(file_)) throw DataError(path_ + ": cannot read: " + std::strerror(errno));
    return got;
  }
  return got + inflate_into(dst + got, n - got);
}

size_t InputBytes::inflate_into(uint8_t* dst, size_t n) {
  z_.next_out = dst;
  z_.avail_out = static_cast<uInt>(n);
  while (z_.avail_out > 0 && !stream_end_) {
    if (z_.avail_in == 0) {
      z_.next_in = in_.data();
      z_.avail_in = static_cast<uInt>(std::fread(in_.data(), 1, in_.size(), file_));
      if (std::ferror(file_)) throw DataError(path_ + ": cannot read: " + std::strerror(errno));
      if (z_.avail_in == 0)
        throw DataError(path_ + ": gzip stream is corrupt or truncated (unexpected end of file)");
    }
    const int rc = inflate(&z_, Z_NO_FLUSH);
    if (rc == Z_STREAM_END) {
      stream_end_ = true;
      uint8_t extra;
      if (z_.avail_in > 0 || std::fread(&extra, 1, 1, file_) == 1)
        throw DataError(path_ + ": data after the end of the gzip stream");
    } else if (rc != Z_OK) {
      throw DataError(path_ + ": gzip stream is corrupt or truncated (" +
                      (z_.msg ? z_.msg : zError(rc)) + ")");
    }
  }
  return n - z_.avail_out;
}

bool InputBytes::at_end() {
  if (peeked_ >= 0) return false;
  uint8_t b;
  if (read(&b, 1) == 0) return true;
  peeked_ = b;
  return false;
}

}  // namespace trainer
