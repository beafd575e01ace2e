// What the program does with a model besides training it: export its weights (llm.c's format,
// safetensors), or print text it generates. Both run in one process, after --resume has restored
// the weights.
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
  // When set, also the logits at each prompt position, as the tensor "logits" (prompt tokens,
  // vocabulary) of a safetensors file: what a check against another implementation reads.
  std::string logits_path;
};

struct SafetensorsExport {
  std::string dir;             // "": no export
  std::string dtype = "fp32";  // or "bf16"
  std::string names = "auto";  // "hf" (a GPT-2 only), "trainer", or auto: hf for a GPT-2
};

// Writes the model's weights to `path` in llm.c's GPT-2 format.
void export_llmc(RunSetup& run, const std::string& path, FILE* err);
// Writes the model's weights as `e.dir`/model.safetensors (and config.json in transformers'
// names): see core/checkpoint/safetensors_weights.h.
void export_safetensors(RunSetup& run, const SafetensorsExport& e, FILE* err);
// The prompt and the model's continuation, as text; throws ConfigError when the model is no
// language model or the prompt does not encode.
std::string sample_text(RunSetup& run, const SampleRequest& request);

}  // namespace trainer
