// The IDX reader: raw and gzipped files, and the exact errors for files it must refuse.
#include <gtest/gtest.h>
#include <zlib.h>

#include <cmath>
#include <cstring>

#include "core/data/idx.h"
#include "core/data/idx_dataset.h"
#include "core/error.h"
#include "tests/test_support.h"

namespace trainer {
namespace {

std::string be32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
          static_cast<char>(v)};
}

// n images of h x w with pixel value (i + j) % 256, and labels i % 10.
std::string images_file(uint32_t n, uint32_t h, uint32_t w) {
  std::string s = be32(0x803) + be32(n) + be32(h) + be32(w);
  for (uint32_t i = 0; i < n * h * w; ++i) s += static_cast<char>(i % 256);
  return s;
}

// n images of h x w floats, value i / 8 for the i-th of the file (or `bad` at position bad_at).
std::string float_images_file(uint32_t n, uint32_t h, uint32_t w, int64_t bad_at = -1,
                              float bad = 0.0f) {
  std::string s = be32(0xD03) + be32(n) + be32(h) + be32(w);
  for (uint32_t i = 0; i < n * h * w; ++i) {
    const float v = static_cast<int64_t>(i) == bad_at ? bad : static_cast<float>(i) / 8.0f;
    uint32_t bits;
    std::memcpy(&bits, &v, 4);
    s += be32(bits);
  }
  return s;
}

std::string labels_file(uint32_t n) {
  std::string s = be32(0x801) + be32(n);
  for (uint32_t i = 0; i < n; ++i) s += static_cast<char>(i % 10);
  return s;
}

void write_gz(const std::string& path, const std::string& contents) {
  gzFile f = gzopen(path.c_str(), "wb");
  gzwrite(f, contents.data(), static_cast<unsigned>(contents.size()));
  gzclose(f);
}

std::string error_of(const std::string& path, int ndim) {
  try {
    read_idx(path, ndim);
  } catch (const DataError& e) {
    return e.what();
  }
  return "no error";
}

TEST(IdxTest, ReadsRawAndGzippedFiles) {
  test::TempDir dir;
  test::write_file(dir.file("raw"), images_file(3, 2, 4));
  write_gz(dir.file("gz"), images_file(3, 2, 4));
  for (const char* name : {"raw", "gz"}) {
    const IdxArray a = read_idx(dir.file(name), 3);
    EXPECT_EQ(a.dims, (std::vector<int64_t>{3, 2, 4}));
    ASSERT_EQ(a.data.size(), 24u);
    EXPECT_EQ(a.data[23], 23);
  }
}

TEST(IdxTest, RejectsWrongMagic) {
  test::TempDir dir;
  test::write_file(dir.file("labels"), labels_file(4));
  EXPECT_EQ(error_of(dir.file("labels"), 3),
            dir.file("labels") +
                ": wrong magic number 0x00000801, expected 0x00000803 "
                "(unsigned-byte IDX with 3 dimensions)");
  test::write_file(dir.file("text"), "hello world, not idx");
  EXPECT_EQ(error_of(dir.file("text"), 1),
            dir.file("text") +
                ": wrong magic number 0x68656c6c, expected 0x00000801 "
                "(unsigned-byte IDX with 1 dimension)");
}

TEST(IdxTest, RejectsTruncatedAndOverlongData) {
  test::TempDir dir;
  const std::string full = images_file(3, 2, 2);
  test::write_file(dir.file("short"), full.substr(0, full.size() - 2));
  EXPECT_EQ(error_of(dir.file("short"), 3),
            dir.file("short") +
                ": truncated: the header declares 3 x 2 x 2 = 12 bytes of data, "
                "the file holds 10");
  test::write_file(dir.file("long"), full + "xy");
  EXPECT_EQ(error_of(dir.file("long"), 3),
            dir.file("long") +
                ": longer than its header: the header declares 3 x 2 x 2 = 12 "
                "bytes of data, the file holds more");
  test::write_file(dir.file("header"), full.substr(0, 9));
  EXPECT_EQ(error_of(dir.file("header"), 3),
            dir.file("header") + ": truncated: the header needs 16 bytes, the file holds 9");
}

TEST(IdxTest, RejectsATruncatedGzipStream) {
  test::TempDir dir;
  write_gz(dir.file("full.gz"), images_file(50, 8, 8));
  const std::string gz = test::read_file(dir.file("full.gz"));
  test::write_file(dir.file("cut.gz"), gz.substr(0, gz.size() / 2));
  EXPECT_EQ(error_of(dir.file("cut.gz"), 3)
                .rfind(dir.file("cut.gz") + ": gzip stream is corrupt or truncated", 0),
            0u)
      << error_of(dir.file("cut.gz"), 3);
}

TEST(IdxTest, RejectsAMissingFile) {
  EXPECT_EQ(error_of("/nonexistent/x.gz", 3),
            "/nonexistent/x.gz: file not found");
}

TEST(IdxTest, DatasetScalesPixelsAndChecksCounts) {
  test::TempDir dir;
  test::write_file(dir.file("img"), images_file(12, 2, 2));
  test::write_file(dir.file("lbl"), labels_file(12));
  IdxDataset d(dir.file("img"), dir.file("lbl"));
  EXPECT_EQ(d.size(), 12);
  EXPECT_EQ(d.sample_shape(), (Shape{1, 2, 2}));
  EXPECT_EQ(d.num_classes(), 10);
  float x[4];
  int32_t y;
  const int64_t idx = 11;
  d.gather(&idx, 1, x, &y);
  EXPECT_EQ(y, 1);
  EXPECT_FLOAT_EQ(x[0], 44.0f / 255.0f);
  test::write_file(dir.file("lbl5"), labels_file(5));
  try {
    IdxDataset bad(dir.file("img"), dir.file("lbl5"));
    FAIL() << "no error";
  } catch (const DataError& e) {
    EXPECT_EQ(std::string(e.what()),
              dir.file("img") + " holds 12 images but " + dir.file("lbl5") + " holds 5 labels");
  }
}

TEST(IdxTest, FloatImagesAreTakenAsTheyAreAndMustBeFinite) {
  test::TempDir dir;
  test::write_file(dir.file("img"), float_images_file(3, 2, 2));
  test::write_file(dir.file("lbl"), labels_file(3));
  IdxDataset d(dir.file("img"), dir.file("lbl"));
  float x[4];
  int32_t y;
  const int64_t idx = 2;
  d.gather(&idx, 1, x, &y);
  EXPECT_EQ(y, 2);
  EXPECT_FLOAT_EQ(x[1], 9.0f / 8.0f);  // element 2 * 4 + 1, unscaled

  test::write_file(dir.file("nan"), float_images_file(3, 2, 2, 7, std::nanf("")));
  try {
    IdxDataset bad(dir.file("nan"), dir.file("lbl"));
    FAIL() << "no error";
  } catch (const DataError& e) {
    EXPECT_EQ(std::string(e.what()), dir.file("nan") +
                                         ": image 1 holds NaN at row 1, column 1; inputs must be "
                                         "finite");
  }
  test::write_file(dir.file("inf"), float_images_file(3, 2, 2, 0, INFINITY));
  EXPECT_THROW(IdxDataset(dir.file("inf"), dir.file("lbl")), DataError);
  // Labels stay unsigned bytes.
  test::write_file(dir.file("flbl"), be32(0xD01) + be32(3) + std::string(12, '\0'));
  EXPECT_EQ(error_of(dir.file("flbl"), 1),
            dir.file("flbl") +
                ": wrong magic number 0x00000d01, expected 0x00000801 (unsigned-byte IDX with 1 "
                "dimension)");
}

}  // namespace
}  // namespace trainer
