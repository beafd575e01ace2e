// N steps straight and N/2 + save + resume + N/2 end with identical weights, optimizer state
// and losses, bit for bit.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "launcher/app.h"
#include "tests/test_support.h"

namespace trainer {
namespace {

const char* kConfig = R"(run: {name: r, seed: 11}
data:
  train: {type: synthetic, samples: 320, shape: [1, 5, 5], classes: 3}
  batch_size: 32
model:
  layers:
    - {type: conv2d, out_channels: 3, kernel: 2}
    - {type: relu}
    - {type: flatten}
    - {type: dropout, p: 0.3}
    - {type: linear, out_features: 3}
optimizer: {type: adam, lr: 0.01, schedule: {type: step, step_size: 5, gamma: 0.5, warmup_steps: 3}}
train: {max_steps: 24}
log: {every_steps: 1}
)";

int run(const std::string& cfg, std::vector<std::string> overrides,
        const std::string& resume = "") {
  AppOptions o;
  o.config = cfg;
  o.overrides = std::move(overrides);
  o.resume = resume;
  FILE* sink = std::fopen("/dev/null", "w");
  const int code = run_app(o, sink, sink);
  std::fclose(sink);
  return code;
}

std::vector<std::string> losses(const std::string& metrics_path, int from_step) {
  std::ifstream in(metrics_path);
  std::vector<std::string> out;
  std::string line;
  while (std::getline(in, line)) {
    const nlohmann::json j = nlohmann::json::parse(line);
    if (j["step"].get<int>() > from_step) out.push_back(j["step"].dump() + ":" + j["loss"].dump());
  }
  return out;
}

// Runs `config` 24 steps straight and 12 + resume + 12, and compares the two.
void expect_resume_exact(const test::TempDir& dir, const std::string& config) {
  test::write_file(dir.file("cfg.yaml"), config);
  const std::string straight = dir.file("straight"), split = dir.file("split");
  ASSERT_EQ(run(dir.file("cfg.yaml"), {"run.out_dir=" + straight}), 0);
  // A separate process-level run: 12 steps, saved at its end; then a resumed run to 24.
  ASSERT_EQ(run(dir.file("cfg.yaml"), {"run.out_dir=" + split, "train.max_steps=12"}), 0);
  ASSERT_EQ(run(dir.file("cfg.yaml"), {"run.out_dir=" + split}, "auto"), 0);
  for (const char* file : {"model.bin", "optimizer.bin"})
    EXPECT_EQ(test::read_file(straight + "/checkpoints/step_00000024/" + file),
              test::read_file(split + "/checkpoints/step_00000024/" + file))
        << file;
  const std::vector<std::string> a = losses(straight + "/metrics.jsonl", 12);
  EXPECT_EQ(a.size(), 12u);
  // The resumed run appended its records after the first half's.
  EXPECT_EQ(a, losses(split + "/metrics.jsonl", 12));
}

TEST(ResumeTest, HalfSaveResumeHalfEqualsStraight) {
  test::TempDir dir;
  expect_resume_exact(dir, kConfig);
}

// The same with a GPT on token data: shuffled windows, blocks, the tied embedding and head.
TEST(ResumeTest, GptOnTokensResumesExactly) {
  test::TempDir dir;
  test::write_tokens(dir.file("tokens.bin"), 801, 19);
  expect_resume_exact(dir, test::small_gpt_config(dir.file("tokens.bin")));
}

TEST(ResumeTest, RefusesACheckpointOfAnotherModel) {
  test::TempDir dir;
  test::write_file(dir.file("cfg.yaml"), kConfig);
  ASSERT_EQ(run(dir.file("cfg.yaml"), {"run.out_dir=" + dir.file("o"), "train.max_steps=2"}), 0);
  const test::CommandResult r = test::run_command(
      std::string(TRAINER_BINARY) + " " + dir.file("cfg.yaml") +
      " --set run.out_dir=" + dir.file("o") + " --set model.layers[4].init=xavier --resume auto");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(
      r.output.find(
          "error: checkpoint: " + dir.file("o") +
          "/checkpoints/step_00000002: "
          "written by a run with a different model section; it cannot be resumed by this config"),
      std::string::npos)
      << r.output;
}

}  // namespace
}  // namespace trainer
