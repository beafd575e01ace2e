// The trainer program as a user runs it: exit codes and one-line errors.
#include <gtest/gtest.h>

#include <algorithm>

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

TEST(CliTest, BadConfigIsOneLineAndExitCode2) {
  test::TempDir dir;
  const test::CommandResult r = test::run_command(
      kTrainer + " " + kConfigs + "fashion_mnist_mlp.yaml --dry-run --set optimizer.lr=-1");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.output,
            "error: --set optimizer.lr=-1: optimizer.lr: expected a number > 0, got '-1'\n");
  const test::CommandResult missing = test::run_command(kTrainer + " " + dir.file("none.yaml"));
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_EQ(missing.output, "error: " + dir.file("none.yaml") + ": cannot open the config file\n");
}

TEST(CliTest, UsageErrorsExit2AndHelpExits0) {
  const test::CommandResult none = test::run_command(kTrainer);
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_NE(none.output.find("config is required"), std::string::npos) << none.output;
  const test::CommandResult help = test::run_command(kTrainer + " --help");
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.output.find("--resume"), std::string::npos);
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

}  // namespace
}  // namespace trainer
