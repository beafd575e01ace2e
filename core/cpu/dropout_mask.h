// Dropout's mask, drawn where it is applied instead of stored: the CPU kernel and the CUDA kernel
// call the same function per element, so both backends drop the same units, and backward draws
// the mask again from the forward's key (no mask tensor is kept between them).
#pragma once

#include <cstdint>

#include "core/host_device.h"
#include "core/rng.h"

namespace trainer::cpu {

// The mask of a micro-batch: sample n's stream is fold_key(step_key, first_sample + n), where
// step_key = make_key({Dropout, seed, layer, step}); element i of the sample is kept unless the
// stream's (i + 1)-th uniform is below p, and a kept element is scaled by 1 / (1 - p).
struct DropoutMask {
  uint64_t step_key = 0;
  int64_t first_sample = 0;
  float p = 0.0f;
};

TRAINER_HD inline uint64_t dropout_sample_key(const DropoutMask& m, int64_t n) {
  return fold_key(m.step_key, static_cast<uint64_t>(m.first_sample + n));
}

// The factor element i of the sample whose stream is `sample_key` is multiplied by.
TRAINER_HD inline float dropout_factor(const DropoutMask& m, uint64_t sample_key, int64_t i) {
  const float keep_scale = 1.0f / (1.0f - m.p);
  return stream_uniform(sample_key, static_cast<uint64_t>(i) + 1) < m.p ? 0.0f : keep_scale;
}

}  // namespace trainer::cpu
