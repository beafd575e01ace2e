// MFU: a language model's model FLOPs per token are PaLM's count, every metrics record's MFU is
// its tokens/s times them over the peak, and the GPU peaks are the data sheets' dense ones.
#include <gtest/gtest.h>

#include <fstream>

#include "launcher/config.h"
#include "launcher/mfu.h"
#include "launcher/training.h"
#include "tests/test_support.h"

namespace trainer {
namespace {

TEST(MfuTest, GptFlopsPerTokenArePalmsCountPlusElementwiseLayers) {
  test::TempDir dir;
  test::write_tokens(dir.file("tokens.bin"), 600, 19);
  test::write_file(dir.file("gpt.yaml"), test::small_gpt_config(dir.file("tokens.bin")));
  RunSetup r = build_run(load_config(dir.file("gpt.yaml"), {"run.out_dir=" + dir.file("out")}));
  // small_gpt_config: vocabulary 19, 16 channels, 2 blocks, context 8. PaLM (appendix B): 6 x the
  // parameters that multiply (12 C^2 a block, and the tied head's V x C) + 12 L T C (attention's
  // two products over the full square).
  const double V = 19, C = 16, L = 2, T = 8;
  const double palm = 6 * (12 * C * C * L + V * C) + 12 * L * T * C;
  const double flops = mfu_basis(r, 1, 1).flops_per_token;
  // trainer also counts its elementwise layers (layer norms, GELU, the embedding's adds): a few
  // percent of this small model, never less than the products.
  EXPECT_GT(flops, palm);
  EXPECT_LT(flops, 1.1 * palm);
}

TEST(MfuTest, EveryRecordsMfuIsItsTokensPerSecondTimesModelFlopsOverThePeak) {
  test::TempDir dir;
  test::write_tokens(dir.file("tokens.bin"), 600, 19);
  test::write_file(dir.file("gpt.yaml"), test::small_gpt_config(dir.file("tokens.bin")));
  RunSetup r = build_run(
      load_config(dir.file("gpt.yaml"), {"run.out_dir=" + dir.file("out"), "train.max_steps=6"}));
  FILE* log = std::fopen("/dev/null", "w");
  const nlohmann::json summary = train(r, 0, log);
  std::fclose(log);
  const double flops = summary["model_flops_per_token"], peak = summary["peak_flops"];
  EXPECT_GT(peak, 1e9);  // a measured SGEMM rate: any CPU of this decade does a GFLOP/s
  EXPECT_NE(summary["peak"].get<std::string>().find("SGEMM"), std::string::npos);
  const double mfu = summary["mfu"];
  EXPECT_DOUBLE_EQ(mfu, summary["train_tokens_per_s"].get<double>() * flops / peak);
  EXPECT_GT(mfu, 0.0);
  EXPECT_LT(mfu, 1.0);
  std::ifstream metrics(dir.file("out/metrics.jsonl"));
  int records = 0;
  for (std::string line; std::getline(metrics, line); ++records) {
    const nlohmann::json m = nlohmann::json::parse(line);
    EXPECT_DOUBLE_EQ(m["tokens_per_s"].get<double>(), m["samples_per_s"].get<double>() * 8);
    EXPECT_DOUBLE_EQ(m["mfu"].get<double>(), m["tokens_per_s"].get<double>() * flops / peak);
  }
  EXPECT_EQ(records, 6);
}

TEST(MfuTest, GpuPeaksAreTheDenseDataSheetFiguresForTheComputePrecision) {
  EXPECT_EQ(gpu_dense_peak("NVIDIA H100 80GB HBM3", DType::BF16), 989.4e12);
  EXPECT_EQ(gpu_dense_peak("NVIDIA H100 80GB HBM3", DType::F32), 66.9e12);
  EXPECT_EQ(gpu_dense_peak("NVIDIA H100 PCIe", DType::F16), 756e12);  // not the SXM part's
  EXPECT_EQ(gpu_dense_peak("NVIDIA H200", DType::BF16), 989.4e12);
  EXPECT_EQ(gpu_dense_peak("NVIDIA A100-SXM4-80GB", DType::F32), 19.5e12);
  EXPECT_EQ(gpu_dense_peak("Tesla V100-SXM2-16GB", DType::BF16), 0.0);  // unknown: no MFU
}

}  // namespace
}  // namespace trainer
