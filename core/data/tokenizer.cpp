#include "core/data/tokenizer.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <unordered_map>

#include "core/error.h"
#include "core/file_access.h"

namespace trainer {

constexpr uint32_t kTokenizerMagic = 20240328;

Tokenizer::Tokenizer() {
  for (int b = 0; b < 256; ++b) pieces_.emplace_back(1, static_cast<char>(b));
}

Tokenizer::Tokenizer(const std::string& path) {
  require_regular_file(path);
  std::ifstream in(path, std::ios::binary);
  if (!in) throw DataError(path + ": cannot open: " + std::strerror(errno));
  uint32_t header[256];
  if (!in.read(reinterpret_cast<char*>(header), sizeof header))
    throw DataError(path + ": shorter than the 1024-byte header of an llm.c tokenizer file");
  if (header[0] != kTokenizerMagic)
    throw DataError(path + ": magic number " + std::to_string(header[0]) + ", expected " +
                    std::to_string(kTokenizerMagic) + " (an llm.c tokenizer file)");
  if (header[1] != 1 && header[1] != 2)
    throw DataError(path + ": version " + std::to_string(header[1]) + ", expected 1 or 2");
  if (header[2] == 0 || header[2] > 1u << 20)
    throw DataError(path + ": vocabulary size " + std::to_string(header[2]) +
                    ", expected between 1 and 2^20");
  for (uint32_t i = 0; i < header[2]; ++i) {
    unsigned char len = 0;
    std::string piece;
    if (in.read(reinterpret_cast<char*>(&len), 1)) {
      piece.resize(len);
      in.read(piece.data(), len);
    }
    if (!in || len == 0)
      throw DataError(path + ": token " + std::to_string(i) + " of " + std::to_string(header[2]) +
                      " is truncated or empty");
    longest_ = std::max<size_t>(longest_, len);
    pieces_.push_back(std::move(piece));
  }
}

std::vector<int32_t> Tokenizer::encode(const std::string& text) const {
  std::unordered_map<std::string, int32_t> ids;
  for (size_t i = pieces_.size(); i-- > 0;) ids[pieces_[i]] = static_cast<int32_t>(i);
  std::vector<int32_t> out;
  for (size_t pos = 0; pos < text.size();) {
    size_t len = std::min(longest_, text.size() - pos);
    for (; len > 0; --len) {
      auto it = ids.find(text.substr(pos, len));
      if (it != ids.end()) {
        out.push_back(it->second);
        break;
      }
    }
    if (len == 0)
      throw DataError("the prompt's byte " + std::to_string(pos) +
                      " is in no token of the tokenizer's vocabulary");
    pos += len;
  }
  return out;
}

std::string Tokenizer::decode(const std::vector<int32_t>& tokens) const {
  std::string out;
  for (int32_t t : tokens)
    out += t >= 0 && t < vocab_size() ? pieces_[static_cast<size_t>(t)] : std::string("<?>");
  return out;
}

}  // namespace trainer
