#include "fuzz/small_gpt2.h"

#include <optional>

#include "core/checkpoint/safetensors_weights.h"
#include "core/data/llmc_file.h"
#include "core/error.h"
#include "fuzz/fuzz_support.h"
#include "launcher/config.h"

namespace trainer::fuzz {

RunSetup& small_gpt2() {
  static std::optional<RunSetup> run;
  if (!run) {
    const std::string& dir = scratch_dir();
    std::string tokens(1024, '\0');
    const int32_t header[3] = {kLlmcTokensMagic, 1, 64};
    std::copy(reinterpret_cast<const char*>(header), reinterpret_cast<const char*>(header + 3),
              tokens.begin());
    for (int i = 0; i < 64; ++i) tokens.append({'\1', '\0'});  // 64 tokens of id 1
    const auto tokens_path =
        write_input("train.bin", reinterpret_cast<const uint8_t*>(tokens.data()), tokens.size());
    const std::string cfg = "data:\n  train: {type: tokens, path: " + tokens_path +
                            ", sequence_length: 8, vocab_size: 19}\n  batch_size: 4\n"
                            "model:\n  layers:\n"
                            "    - {type: embedding, vocab_size: 19, padded_vocab_size: 24, "
                            "channels: 16}\n"
                            "    - {type: transformer_block, heads: 2, repeat: 2}\n"
                            "    - {type: layer_norm}\n    - {type: lm_head, vocab_size: 19}\n"
                            "run: {out_dir: " +
                            dir + "/run}\n";
    const auto cfg_path =
        write_input("gpt.yaml", reinterpret_cast<const uint8_t*>(cfg.data()), cfg.size());
    run.emplace(build_run(load_config(cfg_path, {}, 1)));
  }
  return *run;
}

void load_safetensors_into_small_gpt2(const std::string& path) {
  RunSetup& run = small_gpt2();
  try {
    hf_gpt2_sizes(path);
  } catch (const InputError&) {
  }
  try {
    WeightTarget target(*run.model, *run.model);
    load_safetensors_weights(path, target);
  } catch (const InputError&) {
  }
}

}  // namespace trainer::fuzz
