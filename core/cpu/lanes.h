// Sums and maxima over a row in kLanes independent partial results, combined in one fixed order
// at the end. A plain `s += x[i]` loop is one chain the compiler must keep in order (float
// addition is not associative, and the build does not pass -ffast-math), so it runs at one
// element per addition's latency; eight independent chains vectorise into one AVX register.
// The order depends on the row's length alone, never on the thread count.
#pragma once

#include <cmath>
#include <cstdint>

namespace trainer::cpu {

constexpr int kLanes = 8;

// Σ f(i) for i in [0, n).
template <class F>
inline float lane_sum(int64_t n, F&& f) {
  float acc[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int j = 0; j < kLanes; ++j) acc[j] += f(i + j);
  for (int j = 0; i < n; ++i, ++j) acc[j] += f(i);
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

// max f(i) for i in [0, n); -inf for n = 0.
template <class F>
inline float lane_max(int64_t n, F&& f) {
  float acc[kLanes];
  for (float& a : acc) a = -INFINITY;
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int j = 0; j < kLanes; ++j) {
      const float v = f(i + j);
      acc[j] = v > acc[j] ? v : acc[j];
    }
  for (int j = 0; i < n; ++i, ++j) {
    const float v = f(i);
    acc[j] = v > acc[j] ? v : acc[j];
  }
  float m = acc[0];
  for (int j = 1; j < kLanes; ++j) m = acc[j] > m ? acc[j] : m;
  return m;
}

}  // namespace trainer::cpu
