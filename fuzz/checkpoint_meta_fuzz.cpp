// A checkpoint's meta.json on arbitrary text, beside a real checkpoint's tensor files (a small
// MLP's, from fuzz/data/checkpoint): JSON syntax, the schema, file names that leave the
// directory, sizes and checksums, as --resume reads them. Any exception but CheckpointError is
// a finding.
#include <filesystem>

#include "core/error.h"
#include "fuzz/fuzz_support.h"
#include "launcher/checkpointing.h"

namespace {

const std::string& step_dir() {
  static const std::string dir = [] {
    namespace fs = std::filesystem;
    const fs::path to = fs::path(trainer::fuzz::scratch_dir()) / "step_00000004";
    fs::create_directories(to);
    for (const char* f : {"model.bin", "optimizer.bin"})
      fs::copy_file(fs::path(TRAINER_FUZZ_DATA) / "checkpoint" / f, to / f,
                    fs::copy_options::overwrite_existing);
    return to.string();
  }();
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& dir = step_dir();
  trainer::fuzz::write_input("step_00000004/meta.json", data, size);
  try {
    trainer::verify_run_checkpoint(dir);
  } catch (const trainer::CheckpointError&) {
  }
  return 0;
}
