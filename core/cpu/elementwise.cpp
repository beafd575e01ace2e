#include "core/cpu/elementwise.h"

#include <algorithm>
#include <cmath>

#include "core/cpu/gelu_tanh.h"
#include "core/cpu/parallel.h"

namespace trainer::cpu {

// Elementwise work is split across threads only in pieces of at least this many elements.
constexpr int64_t kGrain = int64_t{1} << 15;

static void activation_forward_range(Activation f, int64_t n, const float* x, float* y) {
  switch (f) {
    case Activation::ReLU:
      // Written so that a NaN passes through (NaN < 0 is false), as in PyTorch: never hidden.
      for (int64_t i = 0; i < n; ++i) y[i] = x[i] < 0.0f ? 0.0f : x[i];
      break;
    case Activation::GELU:  // exact (erf) form, as PyTorch's default
      for (int64_t i = 0; i < n; ++i) y[i] = 0.5f * x[i] * (1.0f + std::erf(x[i] * 0.70710678f));
      break;
    case Activation::GELUTanh:
      for (int64_t i = 0; i < n; ++i) y[i] = gelu_tanh(x[i]);
      break;
    case Activation::Tanh:
      for (int64_t i = 0; i < n; ++i) y[i] = std::tanh(x[i]);
      break;
    case Activation::Sigmoid:
      for (int64_t i = 0; i < n; ++i) y[i] = 1.0f / (1.0f + std::exp(-x[i]));
      break;
  }
}

static void activation_backward_range(Activation f, int64_t n, const float* saved, const float* dy,
                                      float* dx) {
  switch (f) {
    case Activation::ReLU:
      for (int64_t i = 0; i < n; ++i) dx[i] = saved[i] > 0.0f ? dy[i] : 0.0f;
      break;
    case Activation::GELU:
      for (int64_t i = 0; i < n; ++i) {
        const float x = saved[i];
        const float cdf = 0.5f * (1.0f + std::erf(x * 0.70710678f));
        const float pdf = 0.39894228f * std::exp(-0.5f * x * x);
        dx[i] = dy[i] * (cdf + x * pdf);
      }
      break;
    case Activation::GELUTanh:
      for (int64_t i = 0; i < n; ++i) dx[i] = dy[i] * gelu_tanh_grad(saved[i]);
      break;
    case Activation::Tanh:
      for (int64_t i = 0; i < n; ++i) dx[i] = dy[i] * (1.0f - saved[i] * saved[i]);
      break;
    case Activation::Sigmoid:
      for (int64_t i = 0; i < n; ++i) dx[i] = dy[i] * saved[i] * (1.0f - saved[i]);
      break;
  }
}

void activation_forward(Activation f, int64_t n, const float* x, float* y) {
  parallel_ranges(n, kGrain, [&](int, int64_t b, int64_t e) {
    activation_forward_range(f, e - b, x + b, y + b);
  });
}

void activation_backward(Activation f, int64_t n, const float* saved, const float* dy, float* dx) {
  parallel_ranges(n, kGrain, [&](int, int64_t b, int64_t e) {
    activation_backward_range(f, e - b, saved + b, dy + b, dx + b);
  });
}

void add_bias_rows(int64_t rows, int64_t cols, const float* bias, float* y) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) y[r * cols + c] += bias[c];
}

void sum_rows(int64_t rows, int64_t cols, const float* dy, float* db) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) db[c] += dy[r * cols + c];
}

void add(int64_t n, const float* a, const float* b, float* y) {
  parallel_ranges(n, kGrain, [&](int, int64_t s, int64_t e) {
    for (int64_t i = s; i < e; ++i) y[i] = a[i] + b[i];
  });
}

void dropout(int64_t N, int64_t per, const DropoutMask& mask, const float* x, float* y) {
  parallel_ranges(N, std::max<int64_t>(1, kGrain / std::max<int64_t>(per, 1)),
                  [&](int, int64_t b, int64_t e) {
                    for (int64_t n = b; n < e; ++n) {
                      const uint64_t key = dropout_sample_key(mask, n);
                      for (int64_t i = 0; i < per; ++i)
                        y[n * per + i] = x[n * per + i] * dropout_factor(mask, key, i);
                    }
                  });
}

// Every step checks all gradients with this (their norm, and whether any is not finite), so it
// must run at memory speed: eight independent accumulators vectorise (a single one waits an add
// latency per element, a tenth of a small model's step). The order of the sums depends on n only.
double sum_squares(int64_t n, const float* x) {
  constexpr int kLanes = 8;
  double lane[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int j = 0; j < kLanes; ++j) lane[j] += static_cast<double>(x[i + j]) * x[i + j];
  double s = 0.0;
  for (; i < n; ++i) s += static_cast<double>(x[i]) * x[i];
  for (double v : lane) s += v;
  return s;
}

void scale_by(int64_t n, const float* alpha, float* x) {
  const float a = *alpha;
  for (int64_t i = 0; i < n; ++i) x[i] *= a;
}

}  // namespace trainer::cpu
