// Checkpoint directories: round trip, the latest pointer, pruning, and detected corruption.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "core/checkpoint/checkpoint.h"
#include "core/durable_file.h"
#include "core/error.h"
#include "tests/test_support.h"

namespace trainer {
namespace {

namespace fs = std::filesystem;

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const CheckpointError& e) {
    return e.what();
  }
  return "no error";
}

struct Fixture {
  Tensor a = test::random_tensor({3, 4}, 1), b = test::random_tensor({5}, 2);
  std::vector<TensorGroup> groups() { return {{"model.bin", {{"a", &a}, {"b", &b}}}}; }
};

TEST(CheckpointTest, RoundTripRestoresTensorsAndMeta) {
  test::TempDir dir;
  Fixture f;
  const std::string path = write_checkpoint(dir.path(), 7, f.groups(), {{"note", "x"}}, 3);
  EXPECT_EQ(path, dir.file("step_00000007"));
  EXPECT_EQ(latest_checkpoint(dir.path()), path);
  Fixture g;  // other random values
  g.a.zero();
  g.b.zero();
  const nlohmann::json meta = verify_checkpoint(path);
  EXPECT_EQ(meta["step"], 7);
  EXPECT_EQ(meta["note"], "x");
  load_checkpoint_tensors(path, g.groups());
  for (int64_t i = 0; i < f.a.numel(); ++i) EXPECT_EQ(g.a.f32()[i], f.a.f32()[i]);
  for (int64_t i = 0; i < f.b.numel(); ++i) EXPECT_EQ(g.b.f32()[i], f.b.f32()[i]);
  // Nothing temporary is left behind.
  for (const auto& e : fs::directory_iterator(dir.path()))
    EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos) << e.path();
}

TEST(CheckpointTest, KeepsTheNewestAndPointsLatestAtTheLastWritten) {
  test::TempDir dir;
  Fixture f;
  for (int64_t step : {10, 20, 30, 40}) write_checkpoint(dir.path(), step, f.groups(), {}, 2);
  EXPECT_FALSE(fs::exists(dir.file("step_00000010")));
  EXPECT_FALSE(fs::exists(dir.file("step_00000020")));
  EXPECT_TRUE(fs::exists(dir.file("step_00000030")));
  EXPECT_EQ(latest_checkpoint(dir.path()), dir.file("step_00000040"));
}

TEST(CheckpointTest, AFreshRunDoesNotPruneAnEarlierRunsLaterCheckpoints) {
  test::TempDir dir;
  Fixture f;
  write_checkpoint(dir.path(), 900, f.groups(), {}, 2);  // an earlier, longer run
  for (int64_t step : {10, 20, 30}) write_checkpoint(dir.path(), step, f.groups(), {}, 2);
  EXPECT_TRUE(fs::exists(dir.file("step_00000900")));
  EXPECT_FALSE(fs::exists(dir.file("step_00000010")));
  EXPECT_TRUE(fs::exists(dir.file("step_00000020")));
  EXPECT_EQ(latest_checkpoint(dir.path()), dir.file("step_00000030"));
}

TEST(CheckpointTest, DetectsACorruptedShardByChecksum) {
  test::TempDir dir;
  Fixture f;
  const std::string path = write_checkpoint(dir.path(), 1, f.groups(), {}, 3);
  std::string bytes = test::read_file(path + "/model.bin");
  bytes[bytes.size() - 3] ^= 0x40;
  test::write_file(path + "/model.bin", bytes);
  EXPECT_EQ(error_of([&] { verify_checkpoint(path); }),
            path + "/model.bin: checksum mismatch: the file is corrupt");
}

TEST(CheckpointTest, DetectsATruncatedShard) {
  test::TempDir dir;
  Fixture f;
  const std::string path = write_checkpoint(dir.path(), 1, f.groups(), {}, 3);
  const std::string bytes = test::read_file(path + "/model.bin");
  test::write_file(path + "/model.bin", bytes.substr(0, bytes.size() - 8));
  EXPECT_EQ(error_of([&] { verify_checkpoint(path); }),
            path + "/model.bin: truncated or altered: " + std::to_string(bytes.size() - 8) +
                " bytes, written with " + std::to_string(bytes.size()));
}

TEST(CheckpointTest, RefusesTensorsOfAnotherShape) {
  test::TempDir dir;
  Fixture f;
  const std::string path = write_checkpoint(dir.path(), 1, f.groups(), {}, 3);
  Tensor wrong = Tensor::zeros({4, 3});
  const std::vector<TensorGroup> other{{"model.bin", {{"a", &wrong}, {"b", &f.b}}}};
  EXPECT_EQ(error_of([&] { load_checkpoint_tensors(path, other); }),
            path + "/model.bin: holds a [3, 4], the run expects a [4, 3]");
}

TEST(CheckpointTest, AFailedWriteLeavesThePreviousCheckpointAndPointer) {
  test::TempDir dir;
  Fixture f;
  const std::string first = write_checkpoint(dir.path(), 1, f.groups(), {}, 3);
  // A group naming a file in a directory that does not exist makes the second write fail.
  const std::vector<TensorGroup> bad{{"missing/model.bin", {{"a", &f.a}}}};
  EXPECT_NE(error_of([&] { write_checkpoint(dir.path(), 2, bad, {}, 3); }), "no error");
  EXPECT_EQ(latest_checkpoint(dir.path()), first);
  EXPECT_NO_THROW(verify_checkpoint(first));
  EXPECT_FALSE(fs::exists(dir.file("step_00000002")));
}

TEST(CheckpointTest, NonFiniteWeightsAreNeverWritten) {
  test::TempDir dir;
  Fixture f;
  const std::string first = write_checkpoint(dir.path(), 1, f.groups(), {}, 3);
  f.b.f32()[3] = std::nanf("");
  EXPECT_NE(error_of([&] {
              write_checkpoint(dir.path(), 2, f.groups(), {}, 3);
            }).find("model.bin: b holds non-finite values"),
            std::string::npos);
  EXPECT_EQ(latest_checkpoint(dir.path()), first);
  EXPECT_FALSE(fs::exists(dir.file("step_00000002")));
}

TEST(CheckpointTest, AFullDiskLeavesTheFileItWasReplacing) {
  test::TempDir dir;
  const std::string path = dir.file("summary.json");
  write_file_durably(path, "{\"old\": 1}\n");
  fs::create_symlink("/dev/full", path + ".tmp");  // every write there fails with ENOSPC
  try {
    write_file_durably(path, "{\"new\": 2}\n");
    ADD_FAILURE() << "no error";
  } catch (const OutputError& e) {
    EXPECT_EQ(std::string(e.what()), "cannot write " + path + ": No space left on device");
  }
  EXPECT_EQ(test::read_file(path), "{\"old\": 1}\n");
}

// A file written piece by piece (an export) and abandoned by an error on the way: the file it
// would have replaced stays, and no temporary is left behind.
TEST(CheckpointTest, AnUncommittedDurableFileLeavesTheOldOneAndNoTemporary) {
  test::TempDir dir;
  const std::string path = dir.file("model.safetensors");
  write_file_durably(path, "old");
  {
    DurableFile f(path);
    f.write("new and longer", 14);
  }
  EXPECT_EQ(test::read_file(path), "old");
  EXPECT_FALSE(fs::exists(path + ".tmp"));
  DurableFile f(path);
  f.write("new", 3);
  f.commit();
  EXPECT_EQ(test::read_file(path), "new");
}

}  // namespace
}  // namespace trainer
