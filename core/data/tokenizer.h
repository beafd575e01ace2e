// Text in and out of token ids: byte-level (token = byte, vocabulary 256), or llm.c's GPT-2
// tokenizer file (gpt2_tokenizer.bin: a header of 256 uint32 — magic 20240328, version 1 or 2,
// vocabulary size — then each token as a length byte and its bytes).
//
// The file holds no BPE merges, so encoding a prompt with it takes the longest vocabulary entry
// that matches at each position: the ids always decode back to the prompt, though they may
// differ from GPT-2's own BPE split. Decoding is exact.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace trainer {

class Tokenizer {
 public:
  // Byte-level.
  Tokenizer();
  // From llm.c's tokenizer file; throws DataError naming the file when it is not one.
  explicit Tokenizer(const std::string& path);

  int64_t vocab_size() const { return static_cast<int64_t>(pieces_.size()); }
  std::vector<int32_t> encode(const std::string& text) const;
  std::string decode(const std::vector<int32_t>& tokens) const;

 private:
  std::vector<std::string> pieces_;  // the bytes of each token id
  size_t longest_ = 1;               // the longest piece, bounding the encoder's search
};

}  // namespace trainer
