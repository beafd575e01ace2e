// Helpers shared by the tests: temporary directories, files, random tensors.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/model.h"
#include "core/ops.h"
#include "core/tensor.h"
#include "parallel/communicator.h"

namespace trainer::test {

// A fresh directory under the system temp dir, removed when the object dies.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

void write_file(const std::string& path, const std::string& contents);
std::string read_file(const std::string& path);

// Uniform in [lo, hi), from a fixed seed.
Tensor random_tensor(const Shape& shape, uint64_t seed, float lo = -1.0f, float hi = 1.0f);

// Tokens uniform in [0, vocab), as i32, from a fixed seed.
Tensor random_tokens(const Shape& shape, int32_t vocab, uint64_t seed);

// One call of a loss op (ops::cross_entropy, ops::mse), its sums read back (the ops add into
// totals on the logits' device).
using LossOp = void (*)(const Tensor&, const Tensor&, float, Tensor&, LossTotals&);
ops::LossSums loss_sums(LossOp op, const Tensor& logits, const Tensor& labels, float grad_scale,
                        Tensor& dlogits);

// d f / d *v by central differences with step eps, perturbing *v in place and restoring it.
template <class F>
double central_difference(F&& f, float* v, float eps = 1e-2f) {
  const float keep = *v;
  *v = keep + eps;
  const double up = f();
  *v = keep - eps;
  const double down = f();
  *v = keep;
  return (up - down) / (2.0 * eps);
}

// An analytic gradient against its central difference (eps 1e-2 on f32 passes): within 2e-3 +
// 1e-2 relative, room for the differences' truncation and rounding but not for a wrong term.
void expect_gradient_close(double analytic, double numeric, const std::string& what);

// Every parameter value of a model, in order, for comparing two runs.
std::vector<float> parameter_values(Model& model);
std::vector<float> gradient_values(Model& model);

// A small conv net on synthetic 6x6 images, 8 layers with dropout, for comparing layouts: the
// multi-rank tests train it split and whole.
extern const char* const kSmallConvNet;

// An llm.c token file: the 256-int32 header (`magic`, version 1, `count` tokens, or the real
// count when negative), then the tokens as uint16.
std::string token_file(const std::vector<uint16_t>& tokens, int32_t magic = 20240520,
                       int32_t count = -1);
// `count` tokens below `vocab` with some structure (a walk with repeats), written to `path`.
void write_tokens(const std::string& path, int32_t count, int32_t vocab);

// A small GPT (vocabulary 19 padded to 24, 8 positions, 16 channels, 2 blocks of 2 heads) on
// the token file at `tokens`, 24 steps of AdamW with clipping; `channels` widens it.
std::string small_gpt_config(const std::string& tokens, int channels = 16);

// Under mpirun: a shared temp dir holding small_gpt_config's cfg.yaml and its tokens.bin (600
// tokens below 19), written by rank 0; its path on every rank.
std::string write_small_gpt(Communicator& world);

// Every parameter of a model by name (a pipeline stage holds some of the whole model's).
std::map<std::string, std::vector<float>> parameters_by_name(Model& model);
// Of each of `mine`'s parameters (a pipeline stage's, a tensor rank's slices), what one process's
// model `whole` holds of it, cut the same way.
std::map<std::string, std::vector<float>> sliced_like(Model& mine, Model& whole);

// Under mpirun: a fresh temp dir of rank 0's (kept until the process ends), its path on every
// rank.
std::string shared_temp_dir(Communicator& world);

// Two runs' weights agree to `abs` + `rel` x |reference| each; prints the largest difference.
void expect_close(const std::vector<float>& got, const std::vector<float>& reference,
                  double abs = 1e-5, double rel = 1e-4);

// How many times `what` occurs in `text` (error lines in a job's output).
size_t count_of(const std::string& text, const std::string& what);

// The result of running a shell command: its exit code and what it printed (stdout + stderr).
struct CommandResult {
  int exit_code;
  std::string output;
};
CommandResult run_command(const std::string& command);

}  // namespace trainer::test
