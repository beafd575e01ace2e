#include "core/data/token_dataset.h"

#include <cstring>

#include "core/data/llmc_file.h"
#include "core/error.h"

namespace trainer {

TokenDataset::TokenDataset(const std::string& path, int64_t sequence_length, int64_t vocab_size)
    : T_(sequence_length), vocab_(vocab_size) {
  const LlmcFile f = read_llmc_file(path, kLlmcTokensMagic, {1});
  const int64_t count = f.header[2];
  if (count < 0 || static_cast<uint64_t>(count) * 2 != f.payload.size())
    throw DataError(path + ": the header promises " + std::to_string(count) + " tokens (" +
                    std::to_string(count * 2) + " bytes) after it, the file holds " +
                    std::to_string(f.payload.size()) + " bytes");
  tokens_.resize(static_cast<size_t>(count));
  if (count > 0) std::memcpy(tokens_.data(), f.payload.data(), f.payload.size());
  for (size_t i = 0; i < tokens_.size(); ++i)
    if (tokens_[i] >= vocab_)
      throw DataError(path + ": token " + std::to_string(i) + " is " + std::to_string(tokens_[i]) +
                      ", outside the vocabulary (vocab_size " + std::to_string(vocab_) + ")");
  windows_ = count > 0 ? (count - 1) / T_ : 0;
}

std::unique_ptr<Dataset> TokenDataset::create(Args& args, Split) {
  const std::string path = args.text("path", std::nullopt);
  const int64_t T = args.integer("sequence_length", std::nullopt, 1);
  const int64_t vocab = args.integer("vocab_size", std::nullopt, 2);
  if (vocab > 65536) args.fail("vocab_size", "token files hold uint16 tokens: at most 65536");
  return std::make_unique<TokenDataset>(path, T, vocab);
}

void TokenDataset::gather(const int64_t* indices, int64_t n, void* out, int32_t* y) const {
  auto* x = static_cast<int32_t*>(out);
  for (int64_t i = 0; i < n; ++i) {
    const uint16_t* w = tokens_.data() + indices[i] * T_;
    for (int64_t t = 0; t < T_; ++t) {
      if (x) x[i * T_ + t] = w[t];
      y[i * T_ + t] = w[t + 1];
    }
  }
}

}  // namespace trainer
