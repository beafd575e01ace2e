// The two Fashion-MNIST configs reach the published accuracy of their architectures on the real
// data (Debian's dataset-fashion-mnist): the MLP at least 87%, the CNN at least 91%.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "launcher/app.h"
#include "tests/test_support.h"

namespace trainer {
namespace {

double trained_accuracy(const std::string& config) {
  test::TempDir dir;
  AppOptions o;
  o.config = std::string(TRAINER_SOURCE_DIR) + "/configs/" + config;
  // Two threads, as the README's run: the result repeats exactly for a given thread count.
  o.overrides = {"run.out_dir=" + dir.file("out"), "run.threads=2"};
  FILE* sink = std::fopen("/dev/null", "w");
  const int code = run_app(o, sink, stderr);
  std::fclose(sink);
  EXPECT_EQ(code, 0);
  const nlohmann::json s = nlohmann::json::parse(test::read_file(dir.file("out/summary.json")));
  std::printf("%s: test accuracy %.4f after %s steps in %.1f s\n", config.c_str(),
              s["test_accuracy"].get<double>(), s["steps"].dump().c_str(),
              s["wall_s"].get<double>());
  return s["test_accuracy"].get<double>();
}

TEST(AccuracyTest, FashionMnistMlpReaches87Percent) {
  EXPECT_GE(trained_accuracy("fashion_mnist_mlp.yaml"), 0.87);
}

TEST(AccuracyTest, FashionMnistCnnReaches91Percent) {
  EXPECT_GE(trained_accuracy("fashion_mnist_cnn.yaml"), 0.91);
}

}  // namespace
}  // namespace trainer
