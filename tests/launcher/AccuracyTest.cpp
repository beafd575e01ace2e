// The two Fashion-MNIST configs reach the published accuracy of their architectures on the real
// data (Debian's dataset-fashion-mnist): the MLP at least 87% in fp32, fp16 and bf16; the CNN at
// least 91% in fp32. fp16 and bf16 on the CNN train two epochs beside a two-epoch fp32 run and
// track its loss curve (see CnnHalfPrecisionTracksFp32): the full 20-epoch trainings in 16 bits
// took 10 minutes of a 2-core machine and told no more than their curves do.
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <sstream>

#include "launcher/app.h"
#include "tests/test_support.h"

namespace trainer {
namespace {

struct Trained {
  double accuracy = 0.0;
  std::vector<double> losses;  // the training loss of each metrics record (every 50 steps)
};

Trained train(const std::string& config, const std::string& precision, int64_t max_steps = 0) {
  test::TempDir dir;
  AppOptions o;
  o.config = std::string(TRAINER_SOURCE_DIR) + "/configs/" + config;
  // Two threads, as the README's run: the result repeats exactly for a given thread count. Only
  // the final accuracy is checked, so the test set is evaluated once, at the end.
  o.overrides = {"run.out_dir=" + dir.file("out"), "run.threads=2",
                 "precision.compute=" + precision, "train.eval_every_epochs=0",
                 "train.max_steps=" + std::to_string(max_steps)};
  FILE* sink = std::fopen("/dev/null", "w");
  const int code = run_app(o, sink, stderr);
  std::fclose(sink);
  EXPECT_EQ(code, 0);
  const nlohmann::json s = nlohmann::json::parse(test::read_file(dir.file("out/summary.json")));
  std::printf("%s %s: test accuracy %.4f after %s steps in %.1f s (loss scale %g, %s skipped)\n",
              config.c_str(), precision.c_str(), s["test_accuracy"].get<double>(),
              s["steps"].dump().c_str(), s["wall_s"].get<double>(), s["loss_scale"].get<double>(),
              s["skipped_steps"].dump().c_str());
  Trained t{s["test_accuracy"].get<double>(), {}};
  std::istringstream metrics(test::read_file(dir.file("out/metrics.jsonl")));
  for (std::string line; std::getline(metrics, line);)
    t.losses.push_back(nlohmann::json::parse(line)["loss"].get<double>());
  return t;
}

TEST(AccuracyTest, FashionMnistMlpReaches87PercentInEveryPrecision) {
  const double fp32 = train("fashion_mnist_mlp.yaml", "fp32").accuracy;
  EXPECT_GE(fp32, 0.87);
  for (const char* half : {"fp16", "bf16"})
    EXPECT_NEAR(train("fashion_mnist_mlp.yaml", half).accuracy, fp32, 0.005) << half;
}

TEST(AccuracyTest, FashionMnistCnnReaches91PercentInFp32) {
  EXPECT_GE(train("fashion_mnist_cnn.yaml", "fp32").accuracy, 0.91);
}

// Two epochs (936 steps, the cosine schedule over those): each 50-step window's mean training
// loss in fp16 and bf16 stays within 5% of fp32's (after the first window, where all three fall
// from 2.3 at a rate that a few rounding differences shift), and the final accuracy within a
// point. Measured on the development machine (2 threads): the windows differ by at most 1.07%
// (fp16) and 0.74% (bf16), the accuracies by 0.16 points (86.73% fp32, 86.63% fp16, 86.57%
// bf16). The bound leaves room for another processor's BLAS; a broken half-precision path (a
// loss scale not taken off, a wrong rounding, an overflow left in) puts losses off by tens of
// percent or makes them diverge.
TEST(AccuracyTest, CnnHalfPrecisionTracksFp32) {
  const Trained fp32 = train("fashion_mnist_cnn.yaml", "fp32", 936);
  for (const char* half : {"fp16", "bf16"}) {
    const Trained h = train("fashion_mnist_cnn.yaml", half, 936);
    ASSERT_EQ(h.losses.size(), fp32.losses.size()) << half;
    double worst = 0.0;
    for (size_t i = 1; i < h.losses.size(); ++i)
      worst = std::max(worst, std::fabs(h.losses[i] - fp32.losses[i]) / fp32.losses[i]);
    std::printf("%s: largest relative difference of a window's loss from fp32's: %.4f\n", half,
                worst);
    EXPECT_LT(worst, 0.05) << half;
    EXPECT_NEAR(h.accuracy, fp32.accuracy, 0.01) << half;
  }
}

}  // namespace
}  // namespace trainer
