#include "launcher/model_io.h"

#include "core/checkpoint/llmc_weights.h"
#include "core/checkpoint/safetensors.h"
#include "core/checkpoint/safetensors_weights.h"
#include "core/data/tokenizer.h"
#include "core/error.h"
#include "core/generate.h"

namespace trainer {

void export_llmc(RunSetup& run, const std::string& path, FILE* err) {
  save_llmc_weights(path, *run.model);
  std::fprintf(err, "wrote %s (llm.c GPT-2 weights, fp32)\n", path.c_str());
}

void export_safetensors(RunSetup& run, const SafetensorsExport& e, FILE* err) {
  const bool hf = e.names == "hf" || (e.names == "auto" && is_gpt2(*run.model));
  const DType dtype = e.dtype == "bf16" ? DType::BF16 : DType::F32;
  try {
    save_safetensors_weights(e.dir, *run.model,
                             hf ? WeightNames::HuggingFace : WeightNames::Trainer, dtype);
  } catch (const ConfigError& error) {
    throw ConfigError("--export-names " + e.names + ": " + error.what());
  }
  std::fprintf(err, "wrote %s/model.safetensors (%s, %s names)%s\n", e.dir.c_str(), e.dtype.c_str(),
               hf ? "transformers' GPT-2" : "trainer's", hf ? " and config.json" : "");
}

std::string sample_text(RunSetup& run, const SampleRequest& request) {
  if (run.train->input_dtype() != DType::I32)
    throw ConfigError("--sample: the model must be a language model trained on token data");
  const Tokenizer tok = request.tokenizer.empty() ? Tokenizer() : Tokenizer(request.tokenizer);
  const int64_t vocab = run.train->num_classes();
  if (tok.vocab_size() < vocab)
    throw ConfigError("--sample: the tokenizer knows " + std::to_string(tok.vocab_size()) +
                      " tokens, the data's vocabulary has " + std::to_string(vocab) +
                      (request.tokenizer.empty() ? "; give --tokenizer gpt2_tokenizer.bin" : ""));
  std::vector<int32_t> prompt;
  try {
    prompt = tok.encode(request.prompt);
  } catch (const DataError& e) {
    throw ConfigError(std::string("--sample: ") + e.what());
  }
  for (int32_t t : prompt)
    if (t >= vocab)
      throw ConfigError("--sample: the prompt encodes to token " + std::to_string(t) +
                        ", outside the model's vocabulary of " + std::to_string(vocab));
  if (!request.logits_path.empty()) {
    Tensor logits;
    try {
      logits = prompt_logits(*run.model, prompt);
    } catch (const ConfigError& e) {
      throw ConfigError(std::string("--logits: ") + e.what());
    }
    write_safetensors(request.logits_path, {{"logits", logits.shape(), [&] { return logits; }}},
                      DType::F32, {{"format", "pt"}});
  }
  SampleOptions o;
  o.tokens = request.tokens;
  o.temperature = static_cast<float>(request.temperature);
  o.seed = run.cfg.seed;
  return request.prompt + tok.decode(generate(*run.model, prompt, o));
}

}  // namespace trainer
