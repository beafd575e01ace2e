// A sharded model's safetensors index (model.safetensors.index.json) on arbitrary bytes: its JSON,
// the weight_map's file names (none may leave the index's folder), its agreement with the shard
// it names, and loading through it into a small GPT-2. The shard beside it is that model's own
// export in transformers' names. Any exception but InputError is a finding.
#include "core/checkpoint/safetensors_weights.h"
#include "fuzz/fuzz_support.h"
#include "fuzz/small_gpt2.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool shard_written = [] {
    trainer::save_safetensors_weights(trainer::fuzz::scratch_dir(),
                                      *trainer::fuzz::small_gpt2().model,
                                      trainer::WeightNames::HuggingFace, trainer::DType::BF16);
    return true;
  }();
  (void)shard_written;
  trainer::fuzz::load_safetensors_into_small_gpt2(
      trainer::fuzz::write_input("model.safetensors.index.json", data, size));
  return 0;
}
