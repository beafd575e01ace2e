// safetensors files on arbitrary bytes: the header (its length, JSON, dtypes, shapes, byte
// ranges), the sizes model.init_from takes from it, and loading into a small GPT-2 in either
// naming (names, shapes, conversion from F16 / BF16, non-finite values, a tied head). Any
// exception but InputError is a finding.
#include "fuzz/fuzz_support.h"
#include "fuzz/small_gpt2.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  trainer::fuzz::load_safetensors_into_small_gpt2(
      trainer::fuzz::write_input("model.safetensors", data, size));
  return 0;
}
