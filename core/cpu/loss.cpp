#include "core/cpu/loss.h"

#include <cmath>

namespace trainer::cpu {

static int64_t argmax_row(int64_t C, const float* row) {
  int64_t best = 0;
  for (int64_t c = 1; c < C; ++c)
    if (row[c] > row[best]) best = c;
  return best;
}

LossSums softmax_cross_entropy(int64_t N, int64_t C, const float* logits, const int32_t* labels,
                               float grad_scale, float* dlogits) {
  LossSums s;
  for (int64_t n = 0; n < N; ++n) {
    const float* row = logits + n * C;
    const int64_t best = argmax_row(C, row);
    const float mx = row[best];
    double denom = 0.0;
    for (int64_t c = 0; c < C; ++c) denom += std::exp(static_cast<double>(row[c] - mx));
    const double log_denom = std::log(denom);
    s.loss += log_denom - static_cast<double>(row[labels[n]] - mx);
    s.correct += best == labels[n];
    if (dlogits) {
      float* d = dlogits + n * C;
      for (int64_t c = 0; c < C; ++c) {
        const double p = std::exp(static_cast<double>(row[c] - mx) - log_denom);
        d[c] = static_cast<float>((p - (c == labels[n] ? 1.0 : 0.0)) * grad_scale);
      }
    }
  }
  return s;
}

LossSums mse_onehot(int64_t N, int64_t C, const float* logits, const int32_t* labels,
                    float grad_scale, float* dlogits) {
  LossSums s;
  for (int64_t n = 0; n < N; ++n) {
    const float* row = logits + n * C;
    double sq = 0.0;
    for (int64_t c = 0; c < C; ++c) {
      const double diff = row[c] - (c == labels[n] ? 1.0 : 0.0);
      sq += diff * diff;
      if (dlogits) dlogits[n * C + c] = static_cast<float>(2.0 * diff / C * grad_scale);
    }
    s.loss += sq / C;
    s.correct += argmax_row(C, row) == labels[n];
  }
  return s;
}

}  // namespace trainer::cpu
