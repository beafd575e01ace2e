#include "launcher/model_io.h"

#include "core/checkpoint/llmc_weights.h"
#include "core/data/tokenizer.h"
#include "core/error.h"
#include "core/generate.h"

namespace trainer {

void export_llmc(RunSetup& run, const std::string& path, FILE* err) {
  save_llmc_weights(path, *run.model);
  std::fprintf(err, "wrote %s (llm.c GPT-2 weights, fp32)\n", path.c_str());
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
  SampleOptions o;
  o.tokens = request.tokens;
  o.temperature = static_cast<float>(request.temperature);
  o.seed = run.cfg.seed;
  return request.prompt + tok.decode(generate(*run.model, prompt, o));
}

}  // namespace trainer
