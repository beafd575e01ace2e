// Token sequences from an llm.c token file (header: magic 20240520, version 1, token count; then
// the tokens as little-endian uint16).
//
// Sample i is the window of sequence_length + 1 tokens starting at token i x sequence_length, as
// llm.c's loader cuts them: inputs are its first T tokens, targets its last T (each position's
// next token). Every token is checked against vocab_size when the file is read.
#pragma once

#include "core/data/dataset.h"

namespace trainer {

class TokenDataset : public Dataset {
 public:
  TokenDataset(const std::string& path, int64_t sequence_length, int64_t vocab_size);
  static std::unique_ptr<Dataset> create(Args& args, Split split);

  int64_t size() const override { return windows_; }
  Shape sample_shape() const override { return {T_}; }
  int64_t num_classes() const override { return vocab_; }
  DType input_dtype() const override { return DType::I32; }
  Shape target_shape() const override { return {T_}; }
  void gather(const int64_t* indices, int64_t n, void* x, int32_t* y) const override;

 private:
  int64_t T_, vocab_, windows_ = 0;
  std::vector<uint16_t> tokens_;
};

}  // namespace trainer
