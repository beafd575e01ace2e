// llm.c token files and GPT-2 weight files: what is read, and the exact error for a bad file.
#include <gtest/gtest.h>

#include <cstring>

#include "core/checkpoint/llmc_weights.h"
#include "core/data/token_dataset.h"
#include "core/data/tokenizer.h"
#include "core/error.h"
#include "core/layers/embedding.h"
#include "core/layers/layer_norm.h"
#include "core/layers/lm_head.h"
#include "core/layers/transformer_block.h"
#include "tests/test_support.h"

namespace trainer {
namespace {

using test::token_file;

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "no error";
}

TEST(TokenDataTest, WindowsOfTPlusOneTokensEveryTTokens) {
  test::TempDir dir;
  std::vector<uint16_t> tokens(10);
  for (uint16_t i = 0; i < 10; ++i) tokens[i] = static_cast<uint16_t>(100 + i);
  test::write_file(dir.file("t.bin"), token_file(tokens));
  TokenDataset d(dir.file("t.bin"), 4, 200);
  EXPECT_EQ(d.size(), 2);  // (10 - 1) / 4 windows: [0, 5) and [4, 9)
  EXPECT_EQ(d.sample_shape(), (Shape{4}));
  EXPECT_EQ(d.target_shape(), (Shape{4}));
  const int64_t idx[2] = {1, 0};
  int32_t x[8], y[8];
  d.gather(idx, 2, x, y);
  EXPECT_EQ(std::vector<int32_t>(x, x + 8),
            (std::vector<int32_t>{104, 105, 106, 107, 100, 101, 102, 103}));
  EXPECT_EQ(std::vector<int32_t>(y, y + 8),
            (std::vector<int32_t>{105, 106, 107, 108, 101, 102, 103, 104}));
}

// Found by the tokens fuzz target: a file of no tokens copied nothing from a null pointer.
TEST(TokenDataTest, AFileOfNoTokensIsAnEmptyDataSet) {
  test::TempDir dir;
  test::write_file(dir.file("t.bin"), token_file({}));
  EXPECT_EQ(TokenDataset(dir.file("t.bin"), 4, 200).size(), 0);
}

TEST(TokenDataTest, BadFilesAreNamedWithWhatWasExpected) {
  test::TempDir dir;
  const std::string p = dir.file("t.bin");
  test::write_file(p, token_file({1, 2, 3}, 20240326));
  EXPECT_EQ(error_of([&] { TokenDataset(p, 2, 10); }),
            p + ": magic number 20240326, expected 20240520 (an llm.c token file)");
  test::write_file(p, token_file({1, 2, 3}, 20240520, 5));
  EXPECT_EQ(error_of([&] { TokenDataset(p, 2, 10); }),
            p + ": the header promises 5 tokens (10 bytes) after it, the file holds 6 bytes");
  test::write_file(p, token_file({1, 12, 3}));
  EXPECT_EQ(error_of([&] { TokenDataset(p, 2, 10); }),
            p + ": token 1 is 12, outside the vocabulary (vocab_size 10)");
  test::write_file(p, "short");
  EXPECT_EQ(error_of([&] { TokenDataset(p, 2, 10); }),
            p + ": 5 bytes is shorter than llm.c's 1024-byte header");
}

std::unique_ptr<Model> gpt(int64_t blocks, uint64_t seed) {
  auto model = std::make_unique<Model>(Shape{6}, seed);
  model->add(std::make_unique<Embedding>(6, 10, 12, 8, 6, model->next_init()));
  for (int64_t i = 0; i < blocks; ++i)
    model->add(transformer_block(6, 8, 2, blocks, model->next_init()));
  model->add(std::make_unique<LayerNorm>(Shape{6, 8}, model->next_init()));
  model->add(std::make_unique<LmHead>(6, 8, 10, model->next_init()));
  return model;
}

TEST(TokenDataTest, LlmcWeightsRoundTripAndRefuseAnotherShape) {
  test::TempDir dir;
  const std::string p = dir.file("w.bin");
  auto a = gpt(2, 1), b = gpt(2, 2);
  save_llmc_weights(p, *a);
  // 1024 header bytes, then every parameter once, in fp32.
  EXPECT_EQ(test::read_file(p).size(), 1024 + 4 * static_cast<size_t>(a->parameter_count()));
  WeightTarget into_b(*b, *b);
  load_llmc_weights(p, into_b);
  EXPECT_EQ(test::parameter_values(*a), test::parameter_values(*b));
  auto c = gpt(3, 1);
  WeightTarget into_c(*c, *c);
  EXPECT_EQ(error_of([&] { load_llmc_weights(p, into_c); }),
            "model.init_from: " + p + ": layers 2 in the file, 3 in the config's model");
}

TEST(TokenDataTest, TokenizerRoundTripsBytesAndLlmcVocabularies) {
  const Tokenizer bytes;
  const std::string text = "Hello, wörld\n";
  EXPECT_EQ(bytes.decode(bytes.encode(text)), text);
  // A vocabulary file in llm.c's format: the 256 bytes and two longer pieces.
  std::string f(1024, '\0');
  const uint32_t header[3] = {20240328, 1, 258};
  std::memcpy(f.data(), header, sizeof header);
  for (int i = 0; i < 256; ++i) f += std::string(1, '\1') + static_cast<char>(i);
  f += std::string(1, '\3') + "the";
  f += std::string(1, '\4') + " the";
  test::TempDir dir;
  test::write_file(dir.file("tok.bin"), f);
  const Tokenizer vocab(dir.file("tok.bin"));
  EXPECT_EQ(vocab.encode("the the"), (std::vector<int32_t>{256, 257}));
  EXPECT_EQ(vocab.decode({256, 257}), "the the");
}

}  // namespace
}  // namespace trainer
