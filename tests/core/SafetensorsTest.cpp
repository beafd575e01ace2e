// The safetensors reader and writer: values survive in F32 and round to nearest even in BF16,
// and every malformed file is refused with a DataError that names the file and what is wrong,
// before anything is read outside the file.
#include <gtest/gtest.h>

#include <cstring>

#include "core/checkpoint/safetensors.h"
#include "core/checkpoint/safetensors_model.h"
#include "core/error.h"
#include "core/half.h"
#include "tests/test_support.h"

namespace trainer {
namespace {

using test::TempDir;

// A file of `header` (JSON text) followed by `data_bytes` zero bytes.
std::string file_with(const TempDir& dir, const std::string& header, size_t data_bytes) {
  std::string blob(8, '\0');
  for (int i = 0; i < 8; ++i) blob[i] = static_cast<char>(header.size() >> (8 * i) & 0xff);
  blob += header + std::string(data_bytes, '\0');
  const std::string path = dir.file("m.safetensors");
  test::write_file(path, blob);
  return path;
}

std::string error_of(const std::string& path) {
  try {
    SafetensorsFile f(path);
    for (const auto& [name, e] : f.entries()) f.to_f32(name);
  } catch (const DataError& e) {
    return e.what();
  }
  return "";
}

TEST(SafetensorsTest, WritesAndReadsBackF32ExactlyAndBf16Rounded) {
  TempDir dir;
  const Tensor a = test::random_tensor({3, 5}, 1), b = test::random_tensor({7}, 2);
  const std::string f32 = dir.file("f32.safetensors"), bf16 = dir.file("bf16.safetensors");
  const std::vector<SafetensorsItem> items = {{"a", a.shape(), [&] { return a; }},
                                              {"b.weight", b.shape(), [&] { return b; }}};
  write_safetensors(f32, items, DType::F32, {{"format", "pt"}});
  write_safetensors(bf16, items, DType::BF16, {});
  const SafetensorsFile f(f32);
  EXPECT_EQ(f.metadata().at("format"), "pt");
  EXPECT_EQ(f.entries().at("a").shape, (Shape{3, 5}));
  EXPECT_EQ(f.entries().at("b.weight").begin, 60u);  // a's 15 floats first, in the given order
  EXPECT_EQ(std::memcmp(f.to_f32("a").f32(), a.f32(), a.bytes()), 0);
  EXPECT_EQ(std::memcmp(f.to_f32("b.weight").f32(), b.f32(), b.bytes()), 0);
  const SafetensorsFile h(bf16);
  EXPECT_EQ(h.entries().at("a").dtype, "BF16");
  const Tensor back = h.to_f32("a");
  for (int64_t i = 0; i < a.numel(); ++i)
    EXPECT_EQ(back.f32()[i], bf16_to_float(float_to_bf16(a.f32()[i])));
  EXPECT_TRUE(SafetensorsFile::looks_like(f32));
}

TEST(SafetensorsTest, RefusesMalformedFilesNamingWhatIsWrong) {
  TempDir dir;
  const std::string ok = R"({"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}})";
  EXPECT_EQ(error_of(file_with(dir, ok, 16)), "");
  const struct {
    std::string header;
    size_t data;
    std::string error;
  } cases[] = {
      {"{\"w\":", 0, "the header is not JSON"},
      {"[1,2]", 0, "the header is not a JSON object"},
      {R"({"w":{"dtype":"F32","shape":[2,2]}})", 16, "'w': expected an object with dtype"},
      {R"({"w":{"dtype":"Q7","shape":[2],"data_offsets":[0,8]}})", 8, "unknown dtype 'Q7'"},
      {R"({"w":{"dtype":"F32","shape":[2,-1],"data_offsets":[0,8]}})", 8, "shape holds -1"},
      {R"({"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}})", 12,
       "data_offsets [0, 16] outside the file's 12 bytes of data"},
      {R"({"w":{"dtype":"F32","shape":[2,2],"data_offsets":[8,4]}})", 16, "outside the file's"},
      {R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}})", 16,
       "16 bytes for shape [3] of F32, which needs 12"},
      {R"({"w":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,16]}})",
       16, "is too large"},
      {R"({"w":{"dtype":"I64","shape":[2],"data_offsets":[0,16]}})", 16,
       "tensor 'w' is I64, expected F32, BF16 or F16"},
      {R"({"__metadata__":{"format":1}})", 0, "__metadata__.format is not a string"},
  };
  for (const auto& c : cases) {
    const std::string path = file_with(dir, c.header, c.data);
    const std::string error = error_of(path);
    EXPECT_NE(error.find(c.error), std::string::npos) << c.header << " -> " << error;
    EXPECT_EQ(error.rfind(path, 0), 0u) << error;  // names the file first
  }
  // A header length past the end of the file (any 8 bytes that are no such file).
  test::write_file(dir.file("short"), std::string("\xff\x00\x00\x00\x00\x00\x00\x00{", 9));
  EXPECT_NE(error_of(dir.file("short")).find("header length 255 in a file of 9 bytes"),
            std::string::npos);
  test::write_file(dir.file("tiny"), "abc");
  EXPECT_NE(error_of(dir.file("tiny")).find("shorter than a safetensors file's"),
            std::string::npos);
  EXPECT_FALSE(SafetensorsFile::looks_like(dir.file("tiny")));
}

// A model sharded over two files reads as one; an index that disagrees with its files, or is no
// index, is refused naming the file and the tensor.
TEST(SafetensorsTest, AShardedModelReadsAsOneAndItsIndexMustMatchItsFiles) {
  TempDir dir;
  const Tensor a = test::random_tensor({2, 3}, 1), b = test::random_tensor({4}, 2);
  write_safetensors(dir.file("one.safetensors"), {{"a", a.shape(), [&] { return a; }}}, DType::F32,
                    {});
  write_safetensors(dir.file("two.safetensors"), {{"b", b.shape(), [&] { return b; }}}, DType::F32,
                    {});
  const auto index = [&](const std::string& weight_map) {
    const std::string path = dir.file("model.safetensors.index.json");
    test::write_file(path, "{\"metadata\": {}, \"weight_map\": " + weight_map + "}");
    return path;
  };
  const SafetensorsModel m(index(R"({"a": "one.safetensors", "b": "two.safetensors"})"));
  EXPECT_EQ(m.names(), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(m.find("b")->shape, (Shape{4}));
  EXPECT_EQ(m.find("c"), nullptr);
  EXPECT_EQ(std::memcmp(m.to_f32("a").f32(), a.f32(), a.bytes()), 0);
  EXPECT_EQ(std::memcmp(m.to_f32("b").f32(), b.f32(), b.bytes()), 0);
  const auto refusal = [&](const std::string& weight_map) {
    const std::string path = index(weight_map);
    try {
      SafetensorsModel bad(path);
    } catch (const DataError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  const std::string at = dir.file("model.safetensors.index.json") + ": ";
  EXPECT_EQ(refusal(R"({"a": "one.safetensors", "b": "one.safetensors"})"),
            at + "tensor 'b' is not in one.safetensors, where it says");
  EXPECT_EQ(refusal(R"({"a": "two.safetensors", "b": "one.safetensors"})"),
            dir.file("one.safetensors") + ": tensor 'a' is not where " +
                dir.file("model.safetensors.index.json") + " says (it names two.safetensors)");
  EXPECT_EQ(refusal(R"({"a": "/etc/passwd"})"),
            at + "tensor 'a' maps to '/etc/passwd', expected a file name beside the index");
  EXPECT_EQ(refusal(R"({})"), at + "the weight_map names no tensor");
  EXPECT_EQ(refusal(R"({"a": "one.safetensors"})" + std::string(100'000'000, ' ')),
            at + "100000056 bytes, more than a safetensors index holds (100 MB at most)");
  EXPECT_EQ(refusal(R"([1])"),
            at + "expected an object with a \"weight_map\" object (a safetensors index)");
}

}  // namespace
}  // namespace trainer
