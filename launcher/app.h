// The trainer program minus argument parsing: what main() runs, callable from tests.
#pragma once

#include <cstdio>
#include <string>
#include <vector>

#include "launcher/model_io.h"

namespace trainer {

struct AppOptions {
  std::string config;
  std::vector<std::string> overrides;  // --set key.path=value
  bool dry_run = false;
  bool json = false;    // --json: the dry run's plan as JSON
  std::string cluster;  // --cluster: the cost model's machines ("" = by device)
  int search = 0;       // --search N: the fastest layouts of N devices
  std::string resume;   // "", "auto" or a path
  // Instead of training (after --resume, if given; one process):
  std::string export_llmc;        // --export-llmc PATH: write the weights in llm.c's format
  SafetensorsExport safetensors;  // --export-safetensors DIR (and its options)
  bool sample = false;            // --sample PROMPT: print a continuation
  SampleRequest request;          // the prompt and --sample's options
  bool fault_injection = false;   // --fault-injection: the TRAINER_FAULT_* variables act (tests)
};

// Exit codes: 0 done; 2 bad input (config, data, a checkpoint that cannot be resumed);
// 3 training failed (a non-finite loss); 1 anything else. Errors are one line on `err`.
enum ExitCode { kOk = 0, kFailure = 1, kBadInput = 2, kTrainingFailed = 3 };
int run_app(const AppOptions& opts, FILE* out, FILE* err);

// Whether run_app failed for lack of memory: the process should then end at once, skipping
// library teardown (OpenBLAS's thread shutdown hangs after an allocation failed under a limit).
bool ran_out_of_memory();

}  // namespace trainer
