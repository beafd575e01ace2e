// The rate trainer's linear kernels (core/cpu/linear.h) reach on a GPT's shapes: the forward and
// backward of every linear layer of one training step (per block: qkv C -> 3C, attention
// projection C -> C, MLP C -> 4C and 4C -> C; then the output head C -> V without bias), timed
// alone, nothing else in the step. Against the SGEMM rate this bounds what fusing the step's
// other ops can gain: the linear layers hold most of the FLOPs and take this long regardless.
// Prints one JSON line: {"threads": T, "gflops": best of 5 rounds}.
//
//   bench/linear_rate THREADS ROWS CHANNELS VOCABULARY BLOCKS
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "core/cpu/linear.h"

namespace {

struct Shape {
  int64_t in, out;
  bool bias;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 6) {
    std::fprintf(stderr, "usage: linear_rate THREADS ROWS CHANNELS VOCABULARY BLOCKS\n");
    return 2;
  }
  const int threads = std::atoi(argv[1]);
  const int64_t N = std::atoll(argv[2]), C = std::atoll(argv[3]), V = std::atoll(argv[4]),
                L = std::atoll(argv[5]);
  omp_set_num_threads(threads);
  std::vector<Shape> shapes;
  for (int64_t l = 0; l < L; ++l)
    for (Shape s : {Shape{C, 3 * C, true}, Shape{C, C, true}, Shape{C, 4 * C, true},
                    Shape{4 * C, C, true}})
      shapes.push_back(s);
  shapes.push_back({C, V, false});
  const int64_t widest = std::max(4 * C, V);
  std::vector<float> x(N * widest, 0.5f), y(N * widest), dy(N * widest, 0.25f),
      dx(N * widest), w(widest * widest, 0.01f), dw(widest * widest), b(widest, 0.1f),
      db(widest);
  double flops = 0.0, best = 0.0;
  for (const Shape& s : shapes) flops += 3 * 2.0 * N * s.in * s.out;  // forward, dx, dw
  for (int r = 0; r < 5; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    for (const Shape& s : shapes)
      trainer::cpu::linear_forward(N, s.in, s.out, x.data(), w.data(), s.bias ? b.data() : nullptr,
                                   y.data());
    for (auto s = shapes.rbegin(); s != shapes.rend(); ++s)
      trainer::cpu::linear_backward(N, s->in, s->out, x.data(), w.data(), dy.data(), dx.data(),
                                    dw.data(), s->bias ? db.data() : nullptr);
    const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, flops / sec / 1e9);
  }
  std::printf("{\"threads\": %d, \"gflops\": %.2f}\n", threads, best);
}
