// The token-file reader (llm.c's format) on arbitrary bytes: header, token count, payload,
// tokens outside the vocabulary; then one training window is gathered. Any exception but
// DataError is a finding.
#include <vector>

#include "core/data/token_dataset.h"
#include "core/error.h"
#include "fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = trainer::fuzz::write_input("tokens.bin", data, size);
  try {
    const trainer::TokenDataset tokens(path, /*sequence_length=*/8, /*vocab_size=*/256);
    if (tokens.size() > 0) {
      const int64_t last = tokens.size() - 1;
      std::vector<int32_t> x(8), y(8);
      tokens.gather(&last, 1, x.data(), y.data());
    }
  } catch (const trainer::DataError&) {
  }
  return 0;
}
