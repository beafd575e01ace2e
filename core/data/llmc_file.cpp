#include "core/data/llmc_file.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "core/error.h"
#include "core/file_access.h"

namespace trainer {

namespace {

// Opens `path`, reads and checks its header; the stream is left at the payload.
std::ifstream open_checked(const std::string& path, int32_t magic,
                           const std::vector<int32_t>& versions, std::array<int32_t, 256>& header,
                           std::streamoff& payload_bytes) {
  require_regular_file(path);  // a FIFO or a device would never end
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) throw DataError(path + ": cannot open: " + std::strerror(errno));
  const std::streamoff size = in.tellg();
  const auto header_bytes = static_cast<std::streamoff>(sizeof header);
  if (size < header_bytes)
    throw DataError(path + ": " + std::to_string(size) + " bytes is shorter than llm.c's " +
                    std::to_string(header_bytes) + "-byte header");
  in.seekg(0);
  in.read(reinterpret_cast<char*>(header.data()), header_bytes);
  if (header[0] != magic)
    throw DataError(path + ": magic number " + std::to_string(header[0]) + ", expected " +
                    std::to_string(magic) + " (an llm.c " +
                    (magic == kLlmcTokensMagic ? "token" : "GPT-2 parameter") + " file)");
  bool known = false;
  for (int32_t v : versions) known = known || header[1] == v;
  if (!known) {
    std::string list;
    for (int32_t v : versions) list += (list.empty() ? "" : " or ") + std::to_string(v);
    throw DataError(path + ": version " + std::to_string(header[1]) + ", expected " + list);
  }
  payload_bytes = size - header_bytes;
  return in;
}

}  // namespace

LlmcFile read_llmc_file(const std::string& path, int32_t magic, std::vector<int32_t> versions) {
  LlmcFile f;
  std::streamoff bytes = 0;
  std::ifstream in = open_checked(path, magic, versions, f.header, bytes);
  f.payload.resize(static_cast<size_t>(bytes));
  in.read(f.payload.data(), static_cast<std::streamsize>(f.payload.size()));
  if (!in) throw DataError(path + ": cannot read: " + std::strerror(errno));
  return f;
}

std::array<int32_t, 256> read_llmc_header(const std::string& path, int32_t magic,
                                          const std::vector<int32_t>& versions) {
  std::array<int32_t, 256> header{};
  std::streamoff bytes = 0;
  open_checked(path, magic, versions, header, bytes);
  return header;
}

}  // namespace trainer
