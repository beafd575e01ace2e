// trainer: trains the model a YAML config describes.
//
//   trainer cfg.yaml [--set key.path=value]... [--resume auto|PATH]
//   trainer cfg.yaml --dry-run [--json] [--cluster cpu|h100] [--search DEVICES]
//   trainer cfg.yaml --resume PATH --sample PROMPT [--sample-tokens N] [--temperature T]
//   trainer cfg.yaml [--resume PATH] --export-llmc FILE
#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>

#include "launcher/app.h"
#include "parallel/cost_model.h"

int main(int argc, char** argv) {
#ifdef TRAINER_NEEDS_AVX2
  // Built for x86-64-v3: say so plainly instead of dying of an illegal instruction later.
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) {
    std::fprintf(stderr,
                 "error: this build of trainer needs a CPU with AVX2 and FMA; rebuild with "
                 "-DTRAINER_CPU_ARCH=x86-64\n");
    return trainer::kFailure;
  }
#endif
  trainer::AppOptions opts;
  CLI::App cli{"trainer: train the model a YAML config describes"};
  cli.add_option("config", opts.config, "the run's YAML config")->required();
  cli.add_option("--set", opts.overrides, "override a config key: --set optimizer.lr=3e-4")
      ->type_name("KEY=VALUE");
  // An option that only means something beside another needs it: without, it would be dropped
  // silently and the job would train (a 175B config's `--search 1024` without --dry-run would
  // start allocating its weights).
  auto* dry_run = cli.add_flag("--dry-run", opts.dry_run,
                               "check the config, print the model summary, and exit");
  cli.add_flag("--json", opts.json, "with --dry-run: print the plan and prediction as JSON")
      ->needs(dry_run);
  cli.add_option("--cluster", opts.cluster,
                 "with --dry-run: the machines the cost model predicts for (default: cpu, or "
                 "h100 with device cuda)")
      ->check(CLI::IsMember(trainer::cluster_presets()))
      ->needs(dry_run);
  cli.add_option("--search", opts.search,
                 "with --dry-run: list the fastest layouts of this many devices")
      ->check(CLI::PositiveNumber)
      ->needs(dry_run);
  cli.add_option("--resume", opts.resume,
                 "'auto' (the newest checkpoint of this run, if any) or a checkpoint directory");
  auto* sample = cli.add_option("--sample", opts.request.prompt,
                                "print PROMPT and the model's continuation instead of training");
  cli.add_option("--sample-tokens", opts.request.tokens, "with --sample: tokens to generate")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20))
      ->needs(sample);
  cli.add_option("--temperature", opts.request.temperature,
                 "with --sample: softmax temperature (0: the most likely token)")
      ->check(CLI::Range(0.0, 100.0))
      ->needs(sample);
  cli.add_option("--tokenizer", opts.request.tokenizer,
                 "with --sample: llm.c's tokenizer file (gpt2_tokenizer.bin); default: bytes")
      ->check(CLI::ExistingFile)
      ->needs(sample);
  cli.add_option("--logits", opts.request.logits_path,
                 "with --sample: also write the logits at each prompt position to this "
                 "safetensors file (tensor 'logits')")
      ->needs(sample);
  cli.add_option("--export-llmc", opts.export_llmc,
                 "write the model's weights in llm.c's GPT-2 format instead of training");
  auto* safetensors = cli.add_option(
      "--export-safetensors", opts.safetensors.dir,
      "write DIR/model.safetensors instead of training (a GPT-2 in transformers' names, with "
      "DIR/config.json: GPT2LMHeadModel.from_pretrained(DIR) loads it)");
  cli.add_option("--export-dtype", opts.safetensors.dtype,
                 "with --export-safetensors: fp32 (default) or bf16")
      ->check(CLI::IsMember({"fp32", "bf16"}))
      ->needs(safetensors);
  cli.add_option("--export-names", opts.safetensors.names,
                 "with --export-safetensors: hf (transformers' GPT-2), trainer (the parameters' "
                 "own names), or auto (default: hf for a GPT-2)")
      ->check(CLI::IsMember({"auto", "hf", "trainer"}))
      ->needs(safetensors);
  // A test flag, hidden from --help (an empty group): see launcher/fault_injection.h.
  cli.add_flag("--fault-injection", opts.fault_injection)->group("");
  try {
    cli.parse(argc, argv);
    opts.sample = sample->count() > 0;
  } catch (const CLI::ParseError& e) {
    const int code = cli.exit(e);
    return code == 0 ? 0 : trainer::kBadInput;
  }
  const int code = trainer::run_app(opts, stdout, stderr);
  if (trainer::ran_out_of_memory()) {
    std::fflush(nullptr);
    std::_Exit(code);
  }
  return code;
}
