// The trainer program as a user runs it: exit codes and one-line errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>

#include "tests/test_support.h"

namespace trainer {
namespace {

const std::string kTrainer = TRAINER_BINARY;
const std::string kConfigs = std::string(TRAINER_SOURCE_DIR) + "/configs/";

size_t count_lines(const std::string& s) {
  return static_cast<size_t>(std::count(s.begin(), s.end(), '\n'));
}

TEST(CliTest, DryRunPrintsTheModelSummary) {
  const test::CommandResult r =
      test::run_command(kTrainer + " " + kConfigs + "fashion_mnist_cnn.yaml --dry-run");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("total"), std::string::npos);
  EXPECT_NE(r.output.find("93,322"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("5,646,528"), std::string::npos) << r.output;  // forward FLOPs/sample
  const test::CommandResult m =
      test::run_command(kTrainer + " " + kConfigs + "fashion_mnist_mlp.yaml --dry-run");
  EXPECT_NE(m.output.find("109,386"), std::string::npos) << m.output;
}

// Outside mpirun a dry run plans the layout the config asks for: the stages, their share of the
// time, the expected bubble, and the cost model's prediction; --json gives scripts the same.
TEST(CliTest, DryRunPlansAPipelineAndPredictsItsStep) {
  const std::string cnn = kTrainer + " " + kConfigs + "fashion_mnist_cnn.yaml --dry-run";
  const test::CommandResult r =
      test::run_command(cnn + " --set parallel.pipeline=2 --set parallel.microbatches=8");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("pipeline: 2 stages (balanced by estimated time), 8 micro-batches of 16 "
                          "samples, schedule 1f1b"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("expected bubble (P-1)/(M+P-1): 11.1% of each step"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("predicted on cpu"), std::string::npos) << r.output;

  const test::CommandResult j = test::run_command(cnn + " --json --cluster h100 --search 4");
  ASSERT_EQ(j.exit_code, 0) << j.output;
  const nlohmann::json plan = nlohmann::json::parse(j.output);
  EXPECT_EQ(plan["layers"].size(), 12u);
  EXPECT_EQ(plan["cluster"], "h100");
  EXPECT_GT(plan["prediction"]["step_s"].get<double>(), 0.0);
  ASSERT_FALSE(plan["search"].empty());
  for (const auto& l : plan["search"])
    EXPECT_EQ(l["data"].get<int>() * l["pipeline"].get<int>(), 4);

  const test::CommandResult bad = test::run_command(cnn + " --cluster tpu");
  EXPECT_EQ(bad.exit_code, 2) << bad.output;
}

TEST(CliTest, BadConfigIsOneLineAndExitCode2) {
  test::TempDir dir;
  const test::CommandResult r = test::run_command(
      kTrainer + " " + kConfigs + "fashion_mnist_mlp.yaml --dry-run --set optimizer.lr=-1");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.output,
            "error: --set optimizer.lr=-1: optimizer.lr: expected a number > 0, got '-1'\n");
  const test::CommandResult missing = test::run_command(kTrainer + " " + dir.file("none.yaml"));
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_EQ(missing.output, "error: " + dir.file("none.yaml") + ": config file not found\n");
}

TEST(CliTest, UsageErrorsExit2AndHelpExits0) {
  const test::CommandResult none = test::run_command(kTrainer);
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_NE(none.output.find("config is required"), std::string::npos) << none.output;
  const test::CommandResult help = test::run_command(kTrainer + " --help");
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.output.find("--resume"), std::string::npos);
  // A planning or sampling option without the mode it belongs to is refused, not dropped while
  // the job trains (the config is never read).
  for (const auto& [args, needs] : std::vector<std::pair<std::string, std::string>>{
           {"--search 1024", "--search requires --dry-run"},
           {"--cluster h100", "--cluster requires --dry-run"},
           {"--json", "--json requires --dry-run"},
           {"--sample-tokens 5", "--sample-tokens requires --sample"},
           {"--temperature 0", "--temperature requires --sample"}}) {
    const test::CommandResult r = test::run_command(kTrainer + " missing.yaml " + args);
    EXPECT_EQ(r.exit_code, 2) << args;
    EXPECT_NE(r.output.find(needs), std::string::npos) << r.output;
  }
}

TEST(CliTest, TrainsAndPrintsTheSummary) {
  test::TempDir dir;
  test::write_file(dir.file("cfg.yaml"), R"(run: {name: c}
data:
  train: {type: synthetic, samples: 64, shape: [4], classes: 2}
  batch_size: 16
model: {layers: [{type: linear, out_features: 2}]}
train: {epochs: 1}
)");
  const test::CommandResult r = test::run_command(kTrainer + " " + dir.file("cfg.yaml") +
                                                  " --set run.out_dir=" + dir.file("out"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("\"steps\":4"), std::string::npos) << r.output;
  EXPECT_GE(count_lines(r.output), 3u);
  // Run again in the same directory: it starts afresh and says what it found.
  const test::CommandResult again = test::run_command(kTrainer + " " + dir.file("cfg.yaml") +
                                                      " --set run.out_dir=" + dir.file("out"));
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_NE(again.output.find("note: " + dir.file("out") +
                              "/checkpoints/step_00000004 is an "
                              "earlier run's checkpoint; this run starts from step 0"),
            std::string::npos)
      << again.output;
}

// An llm.c token file of `count` tokens below `vocab`, in `dir`.
std::string write_tokens(const test::TempDir& dir, int32_t count, int32_t vocab) {
  test::write_tokens(dir.file("tokens.bin"), count, vocab);
  return dir.file("tokens.bin");
}

// configs/tiny_gpt.yaml with `blocks` blocks and 16 positions on 5000 byte tokens in `dir`,
// trained 3 steps into dir/o: the command line that continues from that run (add --resume auto).
std::string trained_tiny_gpt(const test::TempDir& dir, int blocks) {
  const std::string run = kTrainer + " " + kConfigs +
                          "tiny_gpt.yaml --set data.train.path=" + write_tokens(dir, 5000, 256) +
                          " --set data.test=null" + " --set run.out_dir=" + dir.file("o") +
                          " --set model.layers[1].repeat=" + std::to_string(blocks) +
                          " --set data.train.sequence_length=16";
  EXPECT_EQ(test::run_command(run + " --set train.max_steps=3").exit_code, 0);
  return run;
}

// A 1024-GPU plan of GPT-3 175B (data 16 x pipeline 16 of 4 chunks x tensor 4, sequence
// parallel): every layer is built alone with shapes and no storage, so it runs here (under the
// sanitizers too). The first stage (the embedding and 6 blocks in its 4 chunks, each split 4 ways:
// 2.879e9 parameters per rank) holds bf16 copies and a sixteenth of the f32 masters, 2 + 4/16
// bytes per parameter: 6177.6 MiB.
TEST(CliTest, Gpt3PlanSplitsEachStageOverItsTensorRanks) {
  test::TempDir dir;
  const std::string tokens = write_tokens(dir, 1024 * 2048 + 1, 50257);
  const test::CommandResult r =
      test::run_command(kTrainer + " " + kConfigs +
                        "gpt3_175b.yaml --dry-run --cluster h100 --set data.train.path=" + tokens +
                        " --set data.test.path=" + tokens);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("1024 rank(s): data 16 x pipeline 16 x tensor 4"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("= weights 6177.6 MiB"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("does not fit"), std::string::npos) << r.output;
}

TEST(CliTest, Gpt2SmallDryRunCountsTheTiedPaddedEmbeddingOnce) {
  test::TempDir dir;
  const std::string tokens = write_tokens(dir, 20000, 50257);
  const test::CommandResult r = test::run_command(
      kTrainer + " " + kConfigs + "gpt2_124m.yaml --dry-run --set data.train.path=" + tokens +
      " --set data.test.path=" + tokens);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("124,475,904"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("training FLOPs per token: 855,067,392 (6 x parameters: 746,855,424)"),
            std::string::npos)
      << r.output;
  // 12 blocks of 16 x 1024 x 768 floats, 2 x 12 x 1024 attention row statistics (the 12 x 1024²
  // probabilities, 50 MB a block, are not kept) and 4 x 1024 layer norm statistics, then the
  // embedding's tokens, the final layer norm's 3,153,920 bytes and the head's input:
  // 12 x 50,446,336 + 4,096 + 3,153,920 + 3,145,728.
  EXPECT_NE(r.output.find("activation memory per sample (kept for backward): 611,659,776"),
            std::string::npos)
      << r.output;
  // With train.recompute: blocks each block keeps its input alone (1024 x 768 floats), beside
  // the embedding's tokens (1024 x 4 bytes), the final layer norm's input, means and inverse
  // deviations (3,153,920 bytes) and the head's input: 4,096 + 12 x 3,145,728 + 3,153,920 +
  // 3,145,728.
  const test::CommandResult recomputed = test::run_command(
      kTrainer + " " + kConfigs + "gpt2_124m.yaml --dry-run --set data.train.path=" + tokens +
      " --set data.test.path=" + tokens + " --set train.recompute=blocks");
  EXPECT_NE(recomputed.output.find("activation memory per sample (kept for backward): 44,052,480"),
            std::string::npos)
      << recomputed.output;
  // Memory per GPU with ZeRO 1 over 8 data ranks in bf16: 16-bit copies (2 bytes per parameter)
  // and f32 masters split 8 ways (0.5), f32 gradients (4), Adam's moments (8) split 8 ways (1).
  const std::string eight = kTrainer + " " + kConfigs +
                            "gpt2_124m.yaml --dry-run --set data.train.path=" + tokens +
                            " --set data.test.path=" + tokens +
                            " --cluster h100 --set parallel.data=8 --set data.batch_size=8";
  const test::CommandResult zero = test::run_command(eight + " --set parallel.zero=1");
  EXPECT_NE(
      zero.output.find("= weights 296.8 MiB + gradients 474.8 MiB + optimizer state 118.7 MiB"),
      std::string::npos)
      << zero.output;
  // ZeRO 2: an eighth of the gradients but the tied embedding's, which stays whole (50304 x 768
  // floats: 59.4 MiB - 18.4 + 147.4), and two 25 MiB buckets.
  const test::CommandResult stage2 = test::run_command(eight + " --set parallel.zero=2");
  EXPECT_NE(
      stage2.output.find("= weights 296.8 MiB + gradients 238.3 MiB + optimizer state 118.7 MiB"),
      std::string::npos)
      << stage2.output;
}

// Train a few steps of the small GPT, then sample from its checkpoint: the same text twice for
// the same seed, the prompt echoed first; an unknown tokenizer file is refused with exit 2.
TEST(CliTest, SamplesFromACheckpointedLanguageModel) {
  test::TempDir dir;
  const std::string run = trained_tiny_gpt(dir, 1), tokens = dir.file("tokens.bin");
  const std::string sample = run + " --resume auto --sample 'Once upon' --sample-tokens 20";
  const test::CommandResult a = test::run_command(sample), b = test::run_command(sample);
  ASSERT_EQ(a.exit_code, 0) << a.output;
  EXPECT_EQ(a.output, b.output);
  EXPECT_EQ(a.output.rfind("Once upon", 0), 0u) << a.output;
  EXPECT_GE(a.output.size(), 9u + 20u);
  const test::CommandResult bad = test::run_command(run + " --sample hi --tokenizer " + tokens);
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.output.find("error: " + tokens +
                            ": magic number 20240520, expected 20240328 (an "
                            "llm.c tokenizer file)"),
            std::string::npos)
      << bad.output;
}

// A run's weights exported in llm.c's format start a config that names only the layers' types:
// the sizes come from the file's header, and the model samples what the run's checkpoint does.
TEST(CliTest, ExportedWeightsStartAConfigThatGivesOnlyTypes) {
  test::TempDir dir;
  const std::string run = trained_tiny_gpt(dir, 2);
  const test::CommandResult exported =
      test::run_command(run + " --resume auto --export-llmc " + dir.file("w.bin"));
  ASSERT_EQ(exported.exit_code, 0) << exported.output;
  test::write_file(dir.file("ft.yaml"), R"(run: {seed: 42, out_dir: )" + dir.file("ft") + R"(}
data:
  train: {type: tokens, path: )" + dir.file("tokens.bin") +
                                            R"(, sequence_length: 16, vocab_size: 256}
model:
  init_from: )" + dir.file("w.bin") + R"(
  layers: [{type: embedding}, {type: transformer_block}, {type: layer_norm}, {type: lm_head}]
)");
  const std::string sample = " --sample 'Once' --sample-tokens 12";
  const test::CommandResult a = test::run_command(run + " --resume auto" + sample);
  const test::CommandResult b = test::run_command(kTrainer + " " + dir.file("ft.yaml") + sample);
  ASSERT_EQ(b.exit_code, 0) << b.output;
  EXPECT_EQ(a.output, b.output);
  // A size the config gives must match the file's.
  const test::CommandResult bad = test::run_command(kTrainer + " " + dir.file("ft.yaml") +
                                                    " --dry-run --set model.layers[1].heads=2");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.output.find("model.init_from: " + dir.file("w.bin") +
                            ": heads 4 in the file, 2 in the config's model"),
            std::string::npos)
      << bad.output;
}

// An export reads a checkpoint's weights whatever the config now says of the training that
// wrote them (its steps, optimizer, seed, data): the same file. Another model is still refused.
TEST(CliTest, AnExportReadsTheWeightsWhateverTheTrainingSettingsNowSay) {
  test::TempDir dir;
  const std::string run = trained_tiny_gpt(dir, 1);
  const std::string as_trained = dir.file("a.bin"), changed = dir.file("b.bin");
  ASSERT_EQ(test::run_command(run + " --resume auto --export-llmc " + as_trained).exit_code, 0);
  const test::CommandResult r =
      test::run_command(run + " --set train.max_steps=1 --set optimizer.lr=0.5 --set run.seed=7" +
                        " --set data.batch_size=2 --resume auto --export-llmc " + changed);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(test::read_file(as_trained), test::read_file(changed));
  const test::CommandResult other = test::run_command(
      run + " --set model.layers[1].heads=2 --resume auto --export-llmc " + changed);
  EXPECT_EQ(other.exit_code, 2);
  EXPECT_NE(other.output.find("written by a run with a different model section"), std::string::npos)
      << other.output;
}

// An embedding without a row for some token of the data is refused before anything runs.
TEST(CliTest, AnEmbeddingSmallerThanTheDataVocabularyIsRefused) {
  test::TempDir dir;
  test::write_tokens(dir.file("tokens.bin"), 1000, 256);
  test::write_file(dir.file("cfg.yaml"), R"(data:
  train: {type: tokens, path: )" + dir.file("tokens.bin") +
                                             R"(, sequence_length: 16, vocab_size: 256}
  batch_size: 4
model:
  layers:
    - {type: embedding, vocab_size: 100, channels: 8}
    - {type: linear, out_features: 256}
)");
  const test::CommandResult r = test::run_command(kTrainer + " " + dir.file("cfg.yaml"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("error: " + dir.file("cfg.yaml") +
                          ":6: model.layers[0].vocab_size: 100 is smaller than the data's "
                          "vocabulary (data vocab_size 256)"),
            std::string::npos)
      << r.output;
}

}  // namespace
}  // namespace trainer
