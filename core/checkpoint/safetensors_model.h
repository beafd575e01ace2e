// A model's safetensors: one file, or the shards that transformers' save_pretrained writes past
// its max_shard_size (GPT-2 XL in fp32 is two), listed by a model.safetensors.index.json whose
// "weight_map" names each tensor's file. Either way a tensor is found by its name alone.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/checkpoint/safetensors.h"

namespace trainer {

class SafetensorsModel {
 public:
  // `path`: a safetensors file, or an index (a name ending in ".index.json"). An index is checked
  // against its shards' headers: every file it names is a plain name beside it, every tensor is
  // in the file the map says and in no other, and every tensor of those files is in the map.
  // Throws DataError naming the file and what is wrong.
  explicit SafetensorsModel(const std::string& path);
  static bool is_index(const std::string& path);

  const std::string& path() const { return path_; }
  bool has(const std::string& name) const { return where_.count(name) > 0; }
  // The tensor's entry, or nullptr.
  const SafetensorsEntry* find(const std::string& name) const;
  // Every tensor's name, in order.
  std::vector<std::string> names() const;
  // See SafetensorsFile::to_f32; DataError for a missing name.
  Tensor to_f32(const std::string& name) const;

 private:
  std::string path_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, const SafetensorsFile*> where_;
};

}  // namespace trainer
