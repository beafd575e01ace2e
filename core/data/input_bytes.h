// A data file's bytes, read in order, gunzipped when the file is gzip: the reader asks for what
// the header declares and no more, so a gzip bomb costs no memory beyond that, and the stream
// must end where the file ends (bytes after the gzip stream are refused, not ignored).
#pragma once

#include <zlib.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace trainer {

class InputBytes {
 public:
  // Throws DataError unless `path` is a regular file that can be opened.
  explicit InputBytes(const std::string& path);
  ~InputBytes();
  InputBytes(const InputBytes&) = delete;
  InputBytes& operator=(const InputBytes&) = delete;

  // Up to n bytes into dst; fewer only where the data ends. Throws DataError for a corrupt or
  // truncated gzip stream, or bytes after its end.
  size_t read(uint8_t* dst, size_t n);
  // Whether the data has ended (reads one byte ahead).
  bool at_end();

 private:
  size_t inflate_into(uint8_t* dst, size_t n);

  std::string path_;
  FILE* file_ = nullptr;
  bool gzip_ = false, stream_end_ = false;
  z_stream z_{};
  std::vector<uint8_t> in_;  // compressed bytes read from the file, not yet inflated
  int peeked_ = -1;          // a byte at_end() read ahead
};

}  // namespace trainer
