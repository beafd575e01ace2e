#include "core/checkpoint/safetensors_model.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/file_access.h"

namespace trainer {

namespace {

// The index's weight_map: tensor name -> file name, each file a plain name (no folder: a map
// that reached outside the model's folder would read whatever file it named).
std::map<std::string, std::string> read_weight_map(const std::string& path) {
  require_regular_file(path);
  // The limit safetensors puts on a file's header: an index lists as many names as a header.
  constexpr uintmax_t kMaxIndexBytes = 100'000'000;
  std::error_code ec;
  const uintmax_t bytes = std::filesystem::file_size(path, ec);
  if (!ec && bytes > kMaxIndexBytes)
    throw DataError(path + ": " + std::to_string(bytes) +
                    " bytes, more than a safetensors index holds (100 MB at most)");
  std::ifstream in(path);
  if (!in) throw DataError(path + ": cannot open");
  nlohmann::json index;
  try {
    index = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw DataError(path + ": not JSON (" + e.what() + ")");
  }
  if (!index.is_object() || !index.contains("weight_map") || !index["weight_map"].is_object())
    throw DataError(path +
                    ": expected an object with a \"weight_map\" object (a safetensors index)");
  std::map<std::string, std::string> map;
  for (const auto& [name, file] : index["weight_map"].items()) {
    if (!file.is_string()) throw DataError(path + ": tensor '" + name + "' maps to " + file.dump());
    const std::string f = file.get<std::string>();
    if (f.empty() || f.find('/') != std::string::npos || f == "." || f == "..")
      throw DataError(path + ": tensor '" + name + "' maps to '" + f +
                      "', expected a file name beside the index");
    map[name] = f;
  }
  if (map.empty()) throw DataError(path + ": the weight_map names no tensor");
  return map;
}

}  // namespace

bool SafetensorsModel::is_index(const std::string& path) {
  const std::string tail = ".index.json";
  return path.size() >= tail.size() &&
         path.compare(path.size() - tail.size(), tail.size(), tail) == 0;
}

SafetensorsModel::SafetensorsModel(const std::string& path) : path_(path) {
  if (!is_index(path)) {
    files_.push_back(std::make_unique<SafetensorsFile>(path));
    for (const auto& [name, entry] : files_.back()->entries()) where_[name] = files_.back().get();
    return;
  }
  const std::map<std::string, std::string> map = read_weight_map(path);
  const std::filesystem::path folder = std::filesystem::path(path).parent_path();
  std::map<std::string, const SafetensorsFile*> opened;
  for (const auto& [name, file] : map)
    if (!opened.count(file)) {
      files_.push_back(std::make_unique<SafetensorsFile>((folder / file).string()));
      opened[file] = files_.back().get();
    }
  for (const auto& [file, shard] : opened)
    for (const auto& [name, entry] : shard->entries()) {
      const auto listed = map.find(name);
      if (listed == map.end() || listed->second != file)
        throw DataError(shard->path() + ": tensor '" + name + "' is not where " + path + " says" +
                        (listed == map.end() ? " (it is not in its weight_map)"
                                             : " (it names " + listed->second + ")"));
      where_[name] = shard;
    }
  for (const auto& [name, file] : map)
    if (!where_.count(name))
      throw DataError(path + ": tensor '" + name + "' is not in " + file + ", where it says");
}

const SafetensorsEntry* SafetensorsModel::find(const std::string& name) const {
  const auto it = where_.find(name);
  return it == where_.end() ? nullptr : &it->second->entries().at(name);
}

std::vector<std::string> SafetensorsModel::names() const {
  std::vector<std::string> out;
  for (const auto& [name, file] : where_) out.push_back(name);
  return out;
}

Tensor SafetensorsModel::to_f32(const std::string& name) const {
  const auto it = where_.find(name);
  if (it == where_.end()) throw DataError(path_ + ": no tensor '" + name + "'");
  return it->second->to_f32(name);
}

}  // namespace trainer
