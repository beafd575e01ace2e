// llm.c's GPT-2 parameter files on arbitrary bytes, loaded into a small GPT-2 (2 blocks,
// 16 channels): the header's sizes against the model's, the payload's length, non-finite
// values. Any exception but InputError is a finding.
#include "core/checkpoint/llmc_weights.h"
#include "core/error.h"
#include "fuzz/fuzz_support.h"
#include "fuzz/small_gpt2.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  trainer::RunSetup& run = trainer::fuzz::small_gpt2();
  const std::string path = trainer::fuzz::write_input("weights.bin", data, size);
  try {
    trainer::WeightTarget target(*run.model, *run.model);
    trainer::load_llmc_weights(path, target);
  } catch (const trainer::InputError&) {
  }
  return 0;
}
