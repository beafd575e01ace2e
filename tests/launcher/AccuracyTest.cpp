// The two Fashion-MNIST configs reach the published accuracy of their architectures on the real
// data (Debian's dataset-fashion-mnist): the MLP at least 87%, the CNN at least 91%; trained in
// fp16 (dynamic loss scaling) and in bf16, each ends within 0.5 points of its fp32 accuracy.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "launcher/app.h"
#include "tests/test_support.h"

namespace trainer {
namespace {

double trained_accuracy(const std::string& config, const std::string& precision) {
  test::TempDir dir;
  AppOptions o;
  o.config = std::string(TRAINER_SOURCE_DIR) + "/configs/" + config;
  // Two threads, as the README's run: the result repeats exactly for a given thread count. Only
  // the final accuracy is checked, so the test set is evaluated once, at the end.
  o.overrides = {"run.out_dir=" + dir.file("out"), "run.threads=2",
                 "precision.compute=" + precision, "train.eval_every_epochs=0"};
  FILE* sink = std::fopen("/dev/null", "w");
  const int code = run_app(o, sink, stderr);
  std::fclose(sink);
  EXPECT_EQ(code, 0);
  const nlohmann::json s = nlohmann::json::parse(test::read_file(dir.file("out/summary.json")));
  std::printf("%s %s: test accuracy %.4f after %s steps in %.1f s (loss scale %g, %s skipped)\n",
              config.c_str(), precision.c_str(), s["test_accuracy"].get<double>(),
              s["steps"].dump().c_str(), s["wall_s"].get<double>(), s["loss_scale"].get<double>(),
              s["skipped_steps"].dump().c_str());
  return s["test_accuracy"].get<double>();
}

void expect_accuracy(const std::string& config, double at_least) {
  const double fp32 = trained_accuracy(config, "fp32");
  EXPECT_GE(fp32, at_least);
  for (const char* half : {"fp16", "bf16"})
    EXPECT_NEAR(trained_accuracy(config, half), fp32, 0.005) << half;
}

TEST(AccuracyTest, FashionMnistMlpReaches87PercentInEveryPrecision) {
  expect_accuracy("fashion_mnist_mlp.yaml", 0.87);
}

TEST(AccuracyTest, FashionMnistCnnReaches91PercentInEveryPrecision) {
  expect_accuracy("fashion_mnist_cnn.yaml", 0.91);
}

}  // namespace
}  // namespace trainer
