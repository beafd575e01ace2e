// What the fault tests share: the trainer program run as a user runs it (alone or under mpirun,
// with a time limit), a small config, and views of what a run left on disk.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <string>

#include "tests/test_support.h"

namespace trainer::test {

extern const std::string kTrainer;
// A small MLP on synthetic data: a run of a few steps takes well under a second.
extern const char* const kConfig;
// The environment every run gets: root may run mpirun, one thread per rank.
extern const char* const kEnv;

// The trainer with `args`, alone (ranks 1) or under mpirun, with a time limit so that a hang
// fails the test; `env` is prefixed (fault injection).
CommandResult run(int ranks, const std::string& args, const std::string& env = "",
                  int limit_s = 60);

// Every file under dir with its contents (none when dir does not exist): to show that a failed
// run left a checkpoint alone.
std::map<std::string, std::string> snapshot(const std::string& dir);

// Per logged step, a figure metrics.jsonl holds (the last record of a step wins).
std::map<int, double> metric(const std::string& run_dir, const std::string& key);
std::map<int, double> losses(const std::string& run_dir);

// A 32-bit big-endian integer's bytes (IDX headers).
std::string be32(uint32_t v);

// A test folder holding kConfig as cfg.yaml.
class FaultFixture : public ::testing::Test {
 protected:
  void SetUp() override { write_file(cfg_path(), kConfig); }
  std::string cfg_path() const { return dir_.file("cfg.yaml"); }
  // The config with the run directory in this test's folder.
  std::string cfg(const std::string& out = "out") const {
    return cfg_path() + " --set run.out_dir=" + dir_.file(out);
  }
  std::string checkpoints(const std::string& out = "out") const {
    return dir_.file(out) + "/checkpoints";
  }
  TempDir dir_;
};

}  // namespace trainer::test
