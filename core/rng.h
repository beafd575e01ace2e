// Counter-based random numbers: every value is a pure function of a key and a counter.
//
// This is what makes results independent of layout and resumable without saving generator
// state: a layer's initial weights depend only on (seed, global layer index), a dropout mask
// only on (seed, layer index, step, global sample index), a data order only on (seed, epoch).
#pragma once

#include <cstdint>
#include <initializer_list>

#include "core/host_device.h"

namespace trainer {

// SplitMix64 finaliser: a bijective 64-bit mix with full avalanche.
TRAINER_HD inline uint64_t mix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// One more integer folded into a key: make_key({a, b, c}) is fold_key(make_key({a, b}), c), so a
// kernel can finish on the device a key the host began (dropout's sample index).
TRAINER_HD inline uint64_t fold_key(uint64_t key, uint64_t part) {
  return mix64(key ^ mix64(part));
}

// Folds several integers (seed, layer index, step, ...) into one key.
inline uint64_t make_key(std::initializer_list<uint64_t> parts) {
  uint64_t k = 0x6a09e667f3bcc909ULL;
  for (uint64_t p : parts) k = fold_key(k, p);
  return k;
}

// The counter-th value (from 1) of the stream `key`, and as a uniform float in [0, 1) with 24
// bits, exactly representable: what Rng draws, callable where one element is wanted alone.
TRAINER_HD inline uint64_t stream_u64(uint64_t key, uint64_t counter) {
  return mix64(key + 0xd1b54a32d192ed03ULL * counter);
}
TRAINER_HD inline float stream_uniform(uint64_t key, uint64_t counter) {
  return static_cast<float>(stream_u64(key, counter) >> 40) * (1.0f / 16777216.0f);
}

// A name (a parameter's path) as one integer key: FNV-1a, then mixed.
inline uint64_t name_key(const char* s) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (; *s; ++s) h = (h ^ static_cast<unsigned char>(*s)) * 0x100000001b3ULL;
  return mix64(h);
}

// Purpose tags so that the same (seed, index) never feeds two uses the same stream.
enum class RngPurpose : uint64_t { Init = 1, Dropout = 2, Shuffle = 3, Synthetic = 4, Sample = 5 };

class Rng {
 public:
  explicit Rng(uint64_t key) : key_(key) {}
  uint64_t next_u64() { return stream_u64(key_, ++counter_); }
  float uniform() { return stream_uniform(key_, ++counter_); }
  float uniform(float lo, float hi) { return lo + (hi - lo) * uniform(); }
  // Uniform integer in [0, n); the modulo bias is below n / 2^64, nothing for n < 2^32.
  uint64_t below(uint64_t n) { return next_u64() % n; }
  float normal();

 private:
  uint64_t key_;
  uint64_t counter_ = 0;
};

}  // namespace trainer
