// safetensors files on arbitrary bytes: the header (its length, JSON, dtypes, shapes, byte
// ranges), the sizes model.init_from takes from it, and loading into a small GPT-2 in either
// naming (names, shapes, conversion from F16 / BF16, non-finite values, a tied head). Any
// exception but InputError is a finding.
#include "core/checkpoint/safetensors_weights.h"
#include "core/error.h"
#include "fuzz/fuzz_support.h"
#include "fuzz/small_gpt2.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  trainer::RunSetup& run = trainer::fuzz::small_gpt2();
  const std::string path = trainer::fuzz::write_input("model.safetensors", data, size);
  try {
    trainer::hf_gpt2_sizes(path);
  } catch (const trainer::InputError&) {
  }
  try {
    trainer::WeightTarget target(*run.model, *run.model);
    trainer::load_safetensors_weights(path, target);
  } catch (const trainer::InputError&) {
  }
  return 0;
}
