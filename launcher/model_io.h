// What the program does with a model besides training it: export its weights to llm.c's format,
// or print text it generates. Both run in one process, after --resume has restored the weights.
#pragma once

#include <cstdio>
#include <string>

#include "launcher/run_setup.h"

namespace trainer {

struct SampleRequest {
  std::string prompt;
  int64_t tokens = 200;
  double temperature = 1.0;
  std::string tokenizer;  // llm.c's tokenizer file; "" = byte-level (vocabulary 256)
};

// Writes the model's weights to `path` in llm.c's GPT-2 format.
void export_llmc(RunSetup& run, const std::string& path, FILE* err);
// The prompt and the model's continuation, as text; throws ConfigError when the model is no
// language model or the prompt does not encode.
std::string sample_text(RunSetup& run, const SampleRequest& request);

}  // namespace trainer
