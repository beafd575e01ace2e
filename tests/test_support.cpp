#include "tests/test_support.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/layers/tensor_split.h"
#include "core/rng.h"

namespace trainer::test {

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "trainer-test-XXXXXX").string();
  path_ = mkdtemp(tmpl.data());
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

void write_file(const std::string& path, const std::string& contents) {
  std::ofstream(path, std::ios::binary) << contents;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

Tensor random_tensor(const Shape& shape, uint64_t seed, float lo, float hi) {
  Tensor t = Tensor::empty(shape);
  Rng rng(make_key({seed}));
  for (int64_t i = 0; i < t.numel(); ++i) t.f32()[i] = rng.uniform(lo, hi);
  return t;
}

// Every parameter's values (or gradients), in order, on the host.
static std::vector<float> concatenated(Model& model, Tensor Param::*what) {
  std::vector<float> w;
  for (Param* p : model.params()) {
    const Tensor host = (p->*what).to(Device::cpu());
    w.insert(w.end(), host.f32(), host.f32() + host.numel());
  }
  return w;
}

std::vector<float> parameter_values(Model& model) { return concatenated(model, &Param::value); }

std::vector<float> gradient_values(Model& model) { return concatenated(model, &Param::grad); }

size_t count_of(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

CommandResult run_command(const std::string& command) {
  FILE* p = popen((command + " 2>&1").c_str(), "r");
  std::string out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  const int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

const char* const kSmallConvNet = R"(run: {name: small, seed: 5}
data:
  train: {type: synthetic, samples: 2048, shape: [1, 6, 6], classes: 4}
  test: {type: synthetic, samples: 100, shape: [1, 6, 6], classes: 4}
  batch_size: 48
model:
  layers:
    - {type: conv2d, out_channels: 4, kernel: 3, padding: 1}
    - {type: relu}
    - {type: maxpool2d, kernel: 2}
    - {type: flatten}
    - {type: dropout, p: 0.25}
    - {type: linear, out_features: 16}
    - {type: tanh}
    - {type: linear, out_features: 4}
optimizer: {type: adam, lr: 0.01}
train: {max_steps: 10}
parallel: {bucket_mb: 0.0005}
log: {every_steps: 100}
)";

std::string write_small_gpt(Communicator& world) {
  const std::string dir = shared_temp_dir(world);
  if (world.rank() == 0) {
    write_tokens(dir + "/tokens.bin", 600, 19);
    write_file(dir + "/cfg.yaml", small_gpt_config(dir + "/tokens.bin"));
  }
  world.barrier();
  return dir;
}

std::map<std::string, std::vector<float>> parameters_by_name(Model& model) {
  std::map<std::string, std::vector<float>> out;
  for (Param* p : model.params()) {
    const Tensor host = p->value.to(Device::cpu());
    out[p->name].assign(host.f32(), host.f32() + host.numel());
  }
  return out;
}

std::map<std::string, std::vector<float>> sliced_like(Model& mine, Model& whole) {
  std::map<std::string, Param*> by_name;
  for (Param* p : whole.params()) by_name[p->name] = p;
  std::map<std::string, std::vector<float>> out;
  for (Param* p : mine.params()) {
    const Tensor slice = take_slice(by_name.at(p->name)->value.to(Device::cpu()), p->split);
    out[p->name].assign(slice.f32(), slice.f32() + slice.numel());
  }
  return out;
}

std::string shared_temp_dir(Communicator& world) {
  char path[256] = {};
  if (world.rank() == 0) {
    // Each call a fresh one, alive until the process ends: other ranks may still read it when
    // this rank's test returns.
    const TempDir* dir = new TempDir();
    std::snprintf(path, sizeof path, "%s", dir->path().c_str());
  }
  world.broadcast(path, sizeof path, 0);
  return path;
}

void expect_close(const std::vector<float>& got, const std::vector<float>& reference, double abs,
                  double rel) {
  ASSERT_EQ(got.size(), reference.size());
  double worst = 0.0;
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_NEAR(got[i], reference[i], abs + rel * std::fabs(reference[i])) << "weight " << i;
    worst = std::max(worst, static_cast<double>(std::fabs(got[i] - reference[i])));
  }
  std::printf("largest difference from the one-process run: %.3g\n", worst);
}

std::string token_file(const std::vector<uint16_t>& tokens, int32_t magic, int32_t count) {
  std::string f(1024, '\0');
  const int32_t header[3] = {magic, 1, count < 0 ? static_cast<int32_t>(tokens.size()) : count};
  std::memcpy(f.data(), header, sizeof header);
  f.append(reinterpret_cast<const char*>(tokens.data()), tokens.size() * 2);
  return f;
}

void write_tokens(const std::string& path, int32_t count, int32_t vocab) {
  std::vector<uint16_t> tokens(static_cast<size_t>(count));
  for (int32_t i = 0; i < count; ++i) tokens[i] = static_cast<uint16_t>((i * 7 + i / 5) % vocab);
  write_file(path, token_file(tokens));
}

std::string small_gpt_config(const std::string& tokens, int channels) {
  return R"(run: {name: g, seed: 5}
data:
  train: {type: tokens, path: )" +
         tokens + R"(, sequence_length: 8, vocab_size: 19}
  batch_size: 4
model:
  layers:
    - {type: embedding, vocab_size: 19, padded_vocab_size: 24, channels: )" +
         std::to_string(channels) + R"(}
    - {type: transformer_block, heads: 2, repeat: 2}
    - {type: layer_norm}
    - {type: lm_head, vocab_size: 19}
optimizer: {type: adamw, lr: 0.01, schedule: {type: step, step_size: 5, gamma: 0.5, warmup_steps: 3}}
train: {max_steps: 24, clip_grad_norm: 1.0}
log: {every_steps: 1}
)";
}

Tensor random_tokens(const Shape& shape, int32_t vocab, uint64_t seed) {
  const Tensor u = random_tensor(shape, seed, 0.0f, static_cast<float>(vocab));
  Tensor t = Tensor::empty(shape, DType::I32);
  for (int64_t i = 0; i < t.numel(); ++i)
    t.i32()[i] = std::min<int32_t>(static_cast<int32_t>(u.f32()[i]), vocab - 1);
  return t;
}

ops::LossSums loss_sums(LossOp op, const Tensor& logits, const Tensor& labels, float grad_scale,
                        Tensor& dlogits) {
  LossTotals totals(logits.device());
  op(logits, labels, grad_scale, dlogits, totals);
  return totals.read();
}

void expect_gradient_close(double analytic, double numeric, const std::string& what) {
  EXPECT_NEAR(analytic, numeric, 2e-3 + 1e-2 * std::fabs(numeric)) << what;
}

}  // namespace trainer::test
