// safetensors files (Hugging Face's weight format): an 8-byte little-endian header length, a
// JSON header that maps each tensor's name to its dtype, shape and byte range in the data that
// follows (and "__metadata__" to string pairs), then the raw little-endian tensors, contiguous.
// What transformers, PyTorch and most inference servers load weights from.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace trainer {

struct SafetensorsEntry {
  std::string dtype;  // the file's name for it: "F32", "BF16", "F16", "I64", ...
  Shape shape;
  size_t begin = 0, end = 0;  // bytes, from the start of the data
};

// A file's header, read and checked: it parses, every entry's byte range lies inside the data
// and holds exactly its shape's elements. Tensors are read when asked for. Throws DataError
// "<path>: <what is wrong>".
class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::string& path);
  // True when `path` starts as a safetensors file does (a header length, then '{'), without
  // checking the rest: how model.init_from tells it from llm.c's format.
  static bool looks_like(const std::string& path);

  const std::string& path() const { return path_; }
  const std::map<std::string, SafetensorsEntry>& entries() const { return entries_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  bool has(const std::string& name) const { return entries_.count(name) > 0; }
  // The tensor `name` as f32 on the host, converted from F32, BF16 or F16; DataError for another
  // dtype or a missing name.
  Tensor to_f32(const std::string& name) const;

 private:
  std::string path_;
  uint64_t data_start_ = 0;  // where the tensors' bytes begin in the file
  std::map<std::string, SafetensorsEntry> entries_;
  std::map<std::string, std::string> metadata_;
};

struct SafetensorsItem {
  std::string name;
  Shape shape;
  // The tensor (f32, on the host, `shape`), made when its bytes are written: one at a time, so
  // that writing a model holds one tensor beside it, not a second copy of all of it.
  std::function<Tensor()> value;
};

// Writes `items` in their order, each stored as `dtype` (F32 or BF16: round to nearest even),
// with `metadata` in the header, durably (the previous file or the whole new one, never half)
// and piece by piece. Throws OutputError.
void write_safetensors(const std::string& path, const std::vector<SafetensorsItem>& items,
                       DType dtype, const std::map<std::string, std::string>& metadata);

}  // namespace trainer
