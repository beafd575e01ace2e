// trainer: trains the model a YAML config describes.
//
//   trainer cfg.yaml [--set key.path=value]... [--dry-run] [--resume auto|PATH]
#include <CLI/CLI.hpp>

#include "launcher/app.h"

int main(int argc, char** argv) {
  trainer::AppOptions opts;
  CLI::App cli{"trainer: train the model a YAML config describes"};
  cli.add_option("config", opts.config, "the run's YAML config")->required();
  cli.add_option("--set", opts.overrides, "override a config key: --set optimizer.lr=3e-4")
      ->type_name("KEY=VALUE");
  cli.add_flag("--dry-run", opts.dry_run, "check the config, print the model summary, and exit");
  cli.add_option("--resume", opts.resume,
                 "'auto' (the newest checkpoint of this run, if any) or a checkpoint directory");
  try {
    cli.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = cli.exit(e);
    return code == 0 ? 0 : trainer::kBadInput;
  }
  return trainer::run_app(opts, stdout, stderr);
}
