// llm.c's binary files: a header of 256 little-endian int32 (a magic number, a version, then
// fields of the file's kind), then the payload. Token files (magic 20240520) and GPT-2 parameter
// files (20240326) both use it, so files made with llm.c's scripts load as they are.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace trainer {

constexpr int32_t kLlmcTokensMagic = 20240520;
constexpr int32_t kLlmcParamsMagic = 20240326;

struct LlmcFile {
  std::array<int32_t, 256> header{};
  std::vector<char> payload;
};

// Reads `path` and checks its magic number and version (one of `versions`); throws DataError
// naming the file and what it expected.
LlmcFile read_llmc_file(const std::string& path, int32_t magic, std::vector<int32_t> versions);
// The header alone, checked the same way (a GPT-2 file's sizes, without reading its weights).
std::array<int32_t, 256> read_llmc_header(const std::string& path, int32_t magic,
                                          const std::vector<int32_t>& versions);

}  // namespace trainer
