// Hostile and broken input (CTest label `faults`): configs, data files, checkpoints and run
// directories as a careless user, a corrupted disk, a shared file system or someone else's
// config present them. Each case must end in seconds with exit 2 and one message naming the key,
// file or rank (or, for a checkpoint, with resume falling back to a valid one), never a crash,
// a hang, an "internal" error or a lost or poisoned checkpoint.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <zlib.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/allocator.h"
#include "tests/faults/fault_support.h"

namespace trainer {
namespace {

namespace fs = std::filesystem;
using test::be32;
using test::kConfig;
using test::run;
using test::snapshot;

class HostileInputTest : public test::FaultFixture {
 protected:
  // Writes `text` as <name> in the test folder and returns its path.
  std::string file(const std::string& name, const std::string& text) const {
    test::write_file(dir_.file(name), text);
    return dir_.file(name);
  }
};

struct Case {
  const char* name;
  std::string args;      // the whole command line after the program
  std::string expected;  // in the one error line
  int ranks = 1;
};

// Each case: exit 2, one error line holding `expected`, within seconds, no checkpoint touched.
void expect_refused(const std::vector<Case>& cases, const std::string& checkpoints) {
  const auto before = snapshot(checkpoints);
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(c.name) + ", " + std::to_string(c.ranks) + " rank(s)");
    const auto t0 = std::chrono::steady_clock::now();
    const test::CommandResult r = run(c.ranks, c.args, "", 30);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_EQ(test::count_of(r.output, "error:"), 1u) << r.output;
    EXPECT_EQ(test::count_of(r.output, "internal"), 0u) << r.output;
    EXPECT_NE(r.output.find(c.expected), std::string::npos) << r.output;
    EXPECT_LT(s, 10.0);
    EXPECT_EQ(snapshot(checkpoints), before) << "a checkpoint was touched";
  }
}

// 10 levels of 10 aliases each: 10^9 nodes when expanded, in a few hundred bytes.
std::string billion_laughs() {
  std::string text = "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n";
  for (int level = 1; level < 10; ++level) {
    const std::string prev = "*a" + std::to_string(level - 1);
    text += "a" + std::to_string(level) + ": &a" + std::to_string(level) + " [";
    for (int i = 0; i < 10; ++i) text += (i ? ", " : "") + prev;
    text += "]\n";
  }
  return text;
}

TEST_F(HostileInputTest, ConfigsThatAttackTheLoaderAreRefusedNamingTheKey) {
  ASSERT_EQ(run(1, cfg()).exit_code, 0);  // a checkpoint that must stay untouched
  const std::string self = file("self.yaml", "a: &a [1, *a]\n");
  const std::string inside = file("inside.yaml", std::string(kConfig) + "x: &x {b: *x}\n");
  const std::string laughs = file("laughs.yaml", billion_laughs());
  const std::string out = " --set run.out_dir=" + dir_.file("out");
  const std::string escape = file("escape.yaml", "run: {name: \"a\\e[31mb\"}\n");
  const std::string loop = dir_.file("loop");
  fs::create_symlink(loop, loop);
  std::vector<Case> cases = {
      {"an alias inside its own anchor", self + out,
       self + ":1: alias *a refers to the node that "
              "contains it (a cycle)"},
      {"a cycle inside a valid config", inside + out, inside + ":14: alias *x refers to the node"},
      {"a billion laughs", laughs + out, "expands to more than 100000 nodes through its aliases"},
      {"a cycle in a --set value", cfg() + " --set 'x=&a [1, *a]'",
       "error: --set x=&a [1, *a]: alias *a refers to the node that contains it"},
      {"a directory as the config", dir_.path() + out,
       dir_.path() + ": the config must be a regular file"},
      {"--set into a value", cfg() + " --set run.name.x.y=1",
       "--set run.name.x.y=1: run.name is a single value, not a section"},
      {"--set into a layer's type", cfg() + " --set 'model.layers[0].type.x.y=1'",
       "model.layers[0].type is a single value, not a section"},
      {"an index of 10^23", cfg() + " --set 'model.layers[100000000000000000000000].x=1'",
       "100000000000000000000000 is not an index of a list of 3"},
      {"an unknown section from --set", cfg() + " --set a.b.c.d.e=1",
       "error: --set a.b.c.d.e=1: a: unknown key"},
      {"a section removed by --set", cfg() + " --set data.train=null",
       "error: --set data.train=null: data.train: missing"},
      {"a data path that is a symlink loop",
       cfg() +
           " --set data.train.type=tokens "
           "--set data.train.path=" +
           loop +
           " --set data.train.sequence_length=4 "
           "--set data.train.vocab_size=4",
       "data.train.path: cannot reach it: Too many levels of symbolic links: " + loop},
      {"a size whose product wraps past int64",
       cfg() + " --set 'model.layers[0].out_features=4611686018427387904' --dry-run",
       "model.layers[0].out_features: expected an integer in [1, 2147483647]"},
      {"a layer larger than the machine (refused from its costs: it allocates nothing)",
       cfg() + " --set 'model.layers[0].out_features=2000000000'", "model: the run needs"},
      // Each tensor half the machine at most, the run 2.5 machines: refused before the first
      // is allocated (initialising them one after another, the kernel would kill the process).
      {"a model whose every tensor fits the machine but whose whole does not",
       cfg() + " --set 'model.layers[0].out_features=" +
           std::to_string(physical_memory_bytes() / 128) + "'",
       "model: the run needs"},
      {"activations larger than the machine",
       cfg() + " --set data.train.samples=200000 --set data.batch_size=200000 "
               "--set 'model.layers[0].out_features=1000000'",
       "model: the run needs"},
      {"checkpoint.keep past an int", cfg() + " --set checkpoint.keep=4294967296",
       "checkpoint.keep: expected an integer in [1, 2147483647], got '4294967296'"},
      {"epochs past an int", cfg() + " --set train.epochs=9223372036854775807",
       "train.epochs: expected an integer in [1, 2147483647]"},
      {"a learning rate beyond a float", cfg() + " --set optimizer.lr=1e39",
       "optimizer.lr: expected a number > 0 that a float holds"},
      {"a run name that leaves runs/", cfg() + " --set run.name=../../etc",
       "run.name: expected letters, digits"},
      {"a run name with an escape code", escape + out, "got 'a\\x1b[31mb'"},
      {"out_dir is a file", cfg_path() + " --set run.out_dir=" + cfg_path(),
       "run.out_dir: cannot create " + cfg_path()},
      {"out_dir under /proc", cfg_path() + " --set run.out_dir=/proc/trainer-run",
       "run.out_dir: cannot create /proc/trainer-run"},
  };
  // Two ranks: the cycle must not crash either, and out_dir is checked before any collective.
  cases.push_back({"an alias cycle, 2 ranks", self + out, "alias *a refers to the node", 2});
  cases.push_back({"out_dir is a file, 2 ranks", cfg_path() + " --set run.out_dir=" + cfg_path(),
                   "run.out_dir: cannot create", 2});
  expect_refused(cases, checkpoints());
}

TEST_F(HostileInputTest, ALayerReusedThroughAnAliasGetsItsOwnShape) {
  // Layer 0 writes in_features 16 (its input) back as a default; its second use reads 32.
  const std::string reused = file("reused.yaml", R"(run: {name: reused}
data:
  train: {type: synthetic, samples: 64, shape: [16], classes: 4}
  batch_size: 16
model:
  layers:
    - &L {type: linear, out_features: 32}
    - {type: relu}
    - *L
    - {type: linear, out_features: 4}
train: {max_steps: 2}
)");
  const test::CommandResult r = run(1, reused + " --set run.out_dir=" + dir_.file("out"));
  EXPECT_EQ(r.exit_code, 0) << r.output;
}

// An IDX config reading `images` (4 images of 4x4 unless the file says otherwise).
std::string idx_config(const std::string& dir, const std::string& images) {
  test::write_file(dir + "/labels", be32(0x801) + be32(4) + std::string(4, '\1'));
  const std::string path = images + ".yaml";
  test::write_file(path, "data:\n  train: {type: idx, images: " + images + ", labels: " + dir +
                             "/labels}\n  batch_size: 4\nmodel: {layers: [{type: flatten}, "
                             "{type: linear, out_features: 2}]}\n");
  return path + " --set run.out_dir=" + dir + "/out";
}

std::string gzip(const std::string& path, const std::string& header, size_t zeros,
                 const std::string& tail = "") {
  gzFile f = gzopen(path.c_str(), "wb1");
  gzwrite(f, header.data(), static_cast<unsigned>(header.size()));
  const std::string chunk(1 << 20, '\0');
  for (size_t done = 0; done < zeros; done += chunk.size())
    gzwrite(f, chunk.data(), static_cast<unsigned>(std::min(chunk.size(), zeros - done)));
  gzclose(f);
  if (!tail.empty()) test::write_file(path, test::read_file(path) + tail);
  return path;
}

TEST_F(HostileInputTest, IdxFilesThatLieAboutTheirSizeAreRefused) {
  const std::string d = dir_.path();
  const std::string zero = file("zero", be32(0x803) + be32(4) + be32(0) + be32(0));
  const std::string wrap = file("wrap", be32(0x803) + be32(4) + be32(1u << 31) + be32(1u << 31));
  // 6x6 images declared, 200 MB of zeros inflated: refused at the first byte past 144.
  const std::string bomb =
      gzip(d + "/bomb.gz", be32(0x803) + be32(4) + be32(6) + be32(6), 200u << 20);
  const std::string trailing =
      gzip(d + "/trailing.gz", be32(0x803) + be32(4) + be32(4) + be32(4), 64, "garbage");
  expect_refused(
      {
          {"zero-size dimensions", idx_config(d, zero),
           zero + ": the header declares 4 x 0...: every dimension must be at least 1"},
          {"dimensions whose product wraps", idx_config(d, wrap),
           wrap + ": the header declares 4 x 2147483648...: more than 4294967296 bytes"},
          {"a gzip bomb", idx_config(d, bomb),
           bomb + ": longer than its header: the header declares 4 x 6 x 6 = 144 bytes of data"},
          {"bytes after the gzip stream", idx_config(d, trailing),
           trailing + ": data after the end of the gzip stream"},
      },
      checkpoints());
}

// ---- Checkpoints: a checkpoint is valid only as a whole; anything else is passed over.

class CheckpointAttackTest : public HostileInputTest {
 protected:
  void SetUp() override {
    HostileInputTest::SetUp();
    ASSERT_EQ(run(1, cfg()).exit_code, 0);  // checkpoints at steps 4, 8 and 12
  }
  std::string step(int s) const {
    char name[32];
    std::snprintf(name, sizeof name, "/step_%08d", s);
    return checkpoints() + name;
  }
  nlohmann::json meta(int s) const {
    return nlohmann::json::parse(test::read_file(step(s) + "/meta.json"));
  }
  void set_meta(int s, const nlohmann::json& m) const {
    test::write_file(step(s) + "/meta.json", m.dump());
  }
  // --resume auto after damage to the newest checkpoint: it resumes from step 8, quickly, says
  // why, and leaves the others' files as they were.
  void expect_fallback(const std::string& why) {
    SCOPED_TRACE(why);
    const auto kept = snapshot(step(8));
    const auto t0 = std::chrono::steady_clock::now();
    const test::CommandResult r = run(1, cfg() + " --resume auto --set train.max_steps=12", "", 30);
    EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 10.0);
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("resuming from the newest valid checkpoint, " + step(8)),
              std::string::npos)
        << r.output;
    EXPECT_NE(r.output.find(why), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("at step 8"), std::string::npos) << r.output;
    EXPECT_EQ(snapshot(step(8)), kept);
  }
};

TEST_F(CheckpointAttackTest, MetaOfTheWrongSchemaIsInvalidAndResumeFallsBack) {
  struct Damage {
    const char* why;
    std::function<void(nlohmann::json&)> edit;
  };
  const std::vector<Damage> damages = {
      {"step: expected a non-negative integer", [](auto& m) { m["step"] = "12"; }},
      {"step: expected a non-negative integer", [](auto& m) { m["step"] = -5; }},
      {"files: expected an object", [](auto& m) { m["files"] = nlohmann::json::array(); }},
      {"files: expected an object", [](auto& m) { m["files"] = nlohmann::json::object(); }},
      {"files.model.bin: expected {\"crc32\"",
       [](auto& m) { m["files"]["model.bin"].erase("crc32"); }},
      {"'/dev/zero' is not a file name in the directory",
       [](auto& m) {
         m["files"]["/dev/zero"] = {{"crc32", 0}, {"bytes", 0}};
       }},
      {"optimizer_steps: expected a non-negative integer",
       [](auto& m) { m["optimizer_steps"] = "many"; }},
      {"files: optimizer.bin is missing; the run needs it",
       [](auto& m) { m["files"].erase("optimizer.bin"); }},
      {"step 13 does not match the directory step_00000012", [](auto& m) { m["step"] = 13; }},
      {"layout.zero_shards: expected a number of shards from 1 to 4096",
       [](auto& m) { m["layout"]["zero_shards"] = 100000; }},
      {"layout.zero_shards: expected a number of shards from 1 to 4096",
       [](auto& m) { m["layout"]["zero_shards"] = "2"; }},
      // ZeRO shards the meta names but the files list lacks: refused before any is read.
      {"files: optimizer-shard0.bin is missing; the run needs it",
       [](auto& m) { m["layout"]["zero_shards"] = 2; }},
  };
  const nlohmann::json good = meta(12);
  for (const Damage& d : damages) {
    nlohmann::json m = good;
    d.edit(m);
    set_meta(12, m);
    expect_fallback(d.why);
  }
}

TEST_F(CheckpointAttackTest, TensorFilesThatAreNotRegularFilesAreInvalidNotAHang) {
  const std::string model = step(12) + "/model.bin";
  fs::remove(model);
  ASSERT_EQ(mkfifo(model.c_str(), 0644), 0);
  expect_fallback(model + ": missing (or not a regular file)");
  fs::remove(model);
  fs::create_symlink("/dev/zero", model);
  expect_fallback(model + ": missing (or not a regular file)");
}

TEST_F(CheckpointAttackTest, AnUnusableLatestFallsBackToTheNewestValidStep) {
  const std::string latest = checkpoints() + "/latest";
  for (const char* kind : {"empty", "directory", "device"}) {
    SCOPED_TRACE(kind);
    fs::remove_all(latest);
    if (std::string(kind) == "empty") test::write_file(latest, "");
    if (std::string(kind) == "directory") fs::create_directory(latest);
    if (std::string(kind) == "device") fs::create_symlink("/dev/zero", latest);
    const test::CommandResult r = run(1, cfg() + " --resume auto", "", 30);
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("latest names no checkpoint; resuming from the newest valid "
                            "checkpoint, " +
                            step(12)),
              std::string::npos)
        << r.output;
    EXPECT_NE(r.output.find("at step 12"), std::string::npos) << r.output;
  }
}

TEST_F(CheckpointAttackTest, ASymlinkLoopAmongTheCheckpointsIsPassedOver) {
  const std::string loop = checkpoints() + "/step_00000001";
  fs::create_symlink(loop, loop);
  const test::CommandResult r = run(1, cfg() + " --resume auto --set train.max_steps=16", "", 30);
  EXPECT_EQ(r.exit_code, 0) << r.output;  // and pruning after the save passes it over too
  EXPECT_TRUE(fs::exists(step(16)));
}

TEST_F(CheckpointAttackTest, ACheckpointPastTheRunsLastStepIsRefused) {
  nlohmann::json m = meta(12);
  m["step"] = 1000000000000000000;
  const std::string moved = dir_.file("moved");
  fs::rename(step(12), moved);
  test::write_file(moved + "/meta.json", m.dump());
  const test::CommandResult r = run(1, cfg() + " --resume " + moved, "", 30);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find(moved + ": written at step 1000000000000000000, past this run's 12 "
                                  "steps"),
            std::string::npos)
      << r.output;
}

TEST_F(CheckpointAttackTest, ANonFiniteGradientWithAFiniteLossIsNeverApplied) {
  const auto before = snapshot(checkpoints());
  const test::CommandResult r =
      run(1, cfg() + " --resume auto --set train.max_steps=16", "TRAINER_FAULT_INF_GRAD=0:13");
  EXPECT_EQ(r.exit_code, 3) << r.output;
  EXPECT_NE(r.output.find("a gradient is not finite (the loss is) at step 14"), std::string::npos)
      << r.output;
  EXPECT_EQ(snapshot(checkpoints()), before) << "a checkpoint was written or changed";
}

TEST_F(CheckpointAttackTest, AResumeKeepsOneMetricsRecordPerStep) {
  // The run is resumed from step 8 (as after a kill past its last checkpoint): the records of
  // steps 9-12 it logged before are replaced, not repeated.
  fs::remove_all(step(12));
  test::write_file(checkpoints() + "/latest", "step_00000008\n");
  ASSERT_EQ(run(1, cfg() + " --resume auto").exit_code, 0);
  std::istringstream in(test::read_file(dir_.file("out") + "/metrics.jsonl"));
  std::vector<int> steps;
  for (std::string line; std::getline(in, line);)
    steps.push_back(nlohmann::json::parse(line)["step"].get<int>());
  EXPECT_EQ(steps, (std::vector<int>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}));
}

// ---- Runs that must not share or disagree.

TEST_F(HostileInputTest, ASecondRunInTheSameDirectoryIsRefusedNamingTheFirst) {
  const std::string out = dir_.file("out");
  const std::string script =
      std::string(test::kEnv) + "timeout 60 " + test::kTrainer + " " + cfg() +
      " --set train.max_steps=1000000 --set checkpoint.every_steps=0"
      " & pid=$!\nfor i in $(seq 400); do [ -s " +
      out + "/.lock ] && break; sleep 0.05; done\n" + test::kEnv + "timeout 30 " + test::kTrainer +
      " " + cfg() + "; echo second=$?\nkill $pid\n";
  test::write_file(dir_.file("two.sh"), script);
  const test::CommandResult r = test::run_command("bash " + dir_.file("two.sh"));
  EXPECT_NE(r.output.find("second=2"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("run.out_dir: " + out + " is in use by another run (pid "),
            std::string::npos)
      << r.output;
}

TEST_F(HostileInputTest, RanksStartedWithDifferentConfigsAreRefusedNamingTheKey) {
  const std::string lr = "--set optimizer.lr=0.02";
  const test::CommandResult r = test::run_command(
      std::string(test::kEnv) + "timeout 60 mpirun --oversubscribe -np 1 " + test::kTrainer + " " +
      cfg() + " : -np 1 " + test::kTrainer + " " + cfg() + " " + lr);
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("error: rank 0: ranks 0 and 1 were started with different configs or "
                          "data: rank 0 has optimizer.lr = 0.01, rank 1 has optimizer.lr = 0.02"),
            std::string::npos)
      << r.output;
}

TEST_F(HostileInputTest, OutOfMemoryUnderAMemoryLimitEndsTheRunWithExit2) {
#ifdef TRAINER_SANITIZE
  GTEST_SKIP() << "AddressSanitizer reserves more address space than the limit allows";
#endif
  const test::CommandResult r = test::run_command(
      "ulimit -v 1000000; " + std::string(test::kEnv) + "timeout 60 " + test::kTrainer + " " +
      cfg() + " --set data.train.samples=60000 --set 'model.layers[0].out_features=4096'");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("this process may map only"), std::string::npos) << r.output;
}

TEST_F(HostileInputTest, FaultSwitchesActOnlyWithTheTestFlag) {
  const test::CommandResult r =
      test::run_command("TRAINER_FAULT_STALL=0:2 " + std::string(test::kEnv) + "timeout 30 " +
                        test::kTrainer + " " + cfg());
  EXPECT_EQ(r.exit_code, 0) << r.output;
}

}  // namespace
}  // namespace trainer
