// llm.c's GPT-2 parameter files on arbitrary bytes, loaded into a small GPT-2 (2 blocks,
// 16 channels): the header's sizes against the model's, the payload's length, non-finite
// values. Any exception but InputError is a finding.
#include <optional>

#include "core/checkpoint/llmc_weights.h"
#include "core/data/llmc_file.h"
#include "core/error.h"
#include "fuzz/fuzz_support.h"
#include "launcher/run_setup.h"

namespace {

trainer::RunSetup& model() {
  static std::optional<trainer::RunSetup> run;
  if (!run) {
    const std::string& dir = trainer::fuzz::scratch_dir();
    std::string tokens(1024, '\0');
    const int32_t header[3] = {trainer::kLlmcTokensMagic, 1, 64};
    std::copy(reinterpret_cast<const char*>(header), reinterpret_cast<const char*>(header + 3),
              tokens.begin());
    for (int i = 0; i < 64; ++i) tokens.append({'\1', '\0'});  // 64 tokens of id 1
    const auto tokens_path = trainer::fuzz::write_input(
        "train.bin", reinterpret_cast<const uint8_t*>(tokens.data()), tokens.size());
    const std::string cfg = "data:\n  train: {type: tokens, path: " + tokens_path +
                            ", sequence_length: 8, vocab_size: 19}\n  batch_size: 4\n"
                            "model:\n  layers:\n"
                            "    - {type: embedding, vocab_size: 19, padded_vocab_size: 24, "
                            "channels: 16}\n"
                            "    - {type: transformer_block, heads: 2, repeat: 2}\n"
                            "    - {type: layer_norm}\n    - {type: lm_head, vocab_size: 19}\n"
                            "run: {out_dir: " +
                            dir + "/run}\n";
    const auto cfg_path = trainer::fuzz::write_input(
        "gpt.yaml", reinterpret_cast<const uint8_t*>(cfg.data()), cfg.size());
    run.emplace(trainer::build_run(trainer::load_config(cfg_path, {}, 1), 0, true));
  }
  return *run;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  trainer::RunSetup& run = model();
  const std::string path = trainer::fuzz::write_input("weights.bin", data, size);
  try {
    trainer::load_llmc_weights(path, *run.model);
  } catch (const trainer::InputError&) {
  }
  return 0;
}
