#include "core/checkpoint/safetensors.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#include "core/durable_file.h"
#include "core/error.h"
#include "core/file_access.h"
#include "core/half.h"

namespace trainer {
namespace {

using json = nlohmann::json;

// The safetensors library refuses headers over 100 MB; so does this reader, before reading them.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

// Bytes per element of the dtypes the format names; 0 for a name it does not.
size_t element_bytes(const std::string& dtype) {
  static const std::map<std::string, size_t> sizes = {
      {"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"F8_E4M3", 1}, {"F8_E5M2", 1},
      {"I16", 2},  {"U16", 2}, {"F16", 2}, {"BF16", 2},    {"I32", 4},
      {"U32", 4},  {"F32", 4}, {"I64", 8}, {"U64", 8},     {"F64", 8}};
  const auto it = sizes.find(dtype);
  return it == sizes.end() ? 0 : it->second;
}

uint64_t read_u64_le(const unsigned char* b) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = v << 8 | b[i];
  return v;
}

// One entry of the header, checked against `data_bytes` of data.
SafetensorsEntry parse_entry(const std::string& name, const json& e, size_t data_bytes,
                             const std::string& where) {
  const std::string at = where + ": tensor '" + name + "': ";
  if (!e.is_object() || !e.contains("dtype") || !e.contains("shape") || !e.contains("data_offsets"))
    throw DataError(at + "expected an object with dtype, shape and data_offsets");
  SafetensorsEntry s;
  if (!e["dtype"].is_string()) throw DataError(at + "dtype is not a string");
  s.dtype = e["dtype"].get<std::string>();
  const size_t elem = element_bytes(s.dtype);
  if (elem == 0) throw DataError(at + "unknown dtype '" + s.dtype + "'");
  if (!e["shape"].is_array()) throw DataError(at + "shape is not a list");
  uint64_t count = 1;
  for (const json& d : e["shape"]) {
    if (!d.is_number_unsigned()) throw DataError(at + "shape holds " + d.dump());
    const uint64_t n = d.get<uint64_t>();
    if (n != 0 && count > std::numeric_limits<uint64_t>::max() / elem / n)
      throw DataError(at + "shape " + e["shape"].dump() + " is too large");
    count *= n;
    s.shape.push_back(static_cast<int64_t>(n));
  }
  const json& off = e["data_offsets"];
  if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() ||
      !off[1].is_number_unsigned())
    throw DataError(at + "data_offsets is not [begin, end]");
  const uint64_t begin = off[0].get<uint64_t>(), end = off[1].get<uint64_t>();
  if (begin > end || end > data_bytes)
    throw DataError(at + "data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
                    "] outside the file's " + std::to_string(data_bytes) + " bytes of data");
  if (end - begin != count * elem)
    throw DataError(at + std::to_string(end - begin) + " bytes for shape " + e["shape"].dump() +
                    " of " + s.dtype + ", which needs " + std::to_string(count * elem));
  s.begin = static_cast<size_t>(begin);
  s.end = static_cast<size_t>(end);
  return s;
}

}  // namespace

bool SafetensorsFile::looks_like(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  unsigned char b[9] = {};
  if (!in.read(reinterpret_cast<char*>(b), sizeof b)) return false;
  return read_u64_le(b) <= kMaxHeaderBytes && b[8] == '{';
}

SafetensorsFile::SafetensorsFile(const std::string& path) : path_(path) {
  require_regular_file(path);  // a FIFO or a device would never end
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) throw DataError(path + ": cannot open: " + std::strerror(errno));
  const auto size = static_cast<uint64_t>(in.tellg());
  in.seekg(0);
  unsigned char len[8] = {};
  if (size < 8 || !in.read(reinterpret_cast<char*>(len), 8))
    throw DataError(path + ": " + std::to_string(size) +
                    " bytes is shorter than a safetensors file's 8-byte header length");
  const uint64_t header_bytes = read_u64_le(len);
  if (header_bytes > kMaxHeaderBytes || header_bytes > size - 8)
    throw DataError(path + ": header length " + std::to_string(header_bytes) + " in a file of " +
                    std::to_string(size) + " bytes (not a safetensors file?)");
  std::string text(static_cast<size_t>(header_bytes), '\0');
  if (!in.read(text.data(), static_cast<std::streamsize>(text.size())))
    throw DataError(path + ": cannot read: " + std::strerror(errno));
  data_start_ = 8 + header_bytes;
  const auto data_bytes = static_cast<size_t>(size - data_start_);
  json header;
  try {
    header = json::parse(text);
  } catch (const json::exception& e) {
    throw DataError(path + ": the header is not JSON (" + e.what() + ")");
  }
  if (!header.is_object()) throw DataError(path + ": the header is not a JSON object");
  for (const auto& [name, e] : header.items()) {
    if (name != "__metadata__") {
      entries_.emplace(name, parse_entry(name, e, data_bytes, path));
      continue;
    }
    if (!e.is_object()) throw DataError(path + ": __metadata__ is not an object");
    for (const auto& [k, v] : e.items()) {
      if (!v.is_string()) throw DataError(path + ": __metadata__." + k + " is not a string");
      metadata_[k] = v.get<std::string>();
    }
  }
}

Tensor SafetensorsFile::to_f32(const std::string& name) const {
  const auto it = entries_.find(name);
  if (it == entries_.end()) throw DataError(path_ + ": no tensor '" + name + "'");
  const SafetensorsEntry& e = it->second;
  if (e.dtype != "F32" && e.dtype != "BF16" && e.dtype != "F16")
    throw DataError(path_ + ": tensor '" + name + "' is " + e.dtype +
                    ", expected F32, BF16 or F16");
  std::vector<char> bytes(e.end - e.begin);
  std::ifstream in(path_, std::ios::binary);
  in.seekg(static_cast<std::streamoff>(data_start_ + e.begin));
  if (!in.read(bytes.data(), static_cast<std::streamsize>(bytes.size())))
    throw DataError(path_ + ": cannot read tensor '" + name + "' (the file changed?)");
  Tensor t = Tensor::empty(e.shape);
  float* out = t.f32();
  const char* src = bytes.data();
  const int64_t n = t.numel();
  if (e.dtype == "F32") {
    std::memcpy(out, src, bytes.size());
  } else {
    const bool bf16 = e.dtype == "BF16";
    for (int64_t i = 0; i < n; ++i) {
      uint16_t h;
      std::memcpy(&h, src + 2 * i, 2);
      out[i] = bf16 ? bf16_to_float(h) : f16_to_float(h);
    }
  }
  return t;
}

void write_safetensors(const std::string& path, const std::vector<SafetensorsItem>& items,
                       DType dtype, const std::map<std::string, std::string>& metadata) {
  if (dtype != DType::F32 && dtype != DType::BF16)
    throw OutputError("cannot write " + path + ": safetensors export is F32 or BF16");
  const size_t elem = dtype == DType::F32 ? 4 : 2;
  // The header keeps the items' order (nlohmann's ordered_json), so a reader that lists the
  // header sees the tensors in the order their bytes follow.
  nlohmann::ordered_json header;
  header["__metadata__"] = metadata;
  size_t offset = 0;
  for (const SafetensorsItem& it : items) {
    const size_t bytes = static_cast<size_t>(shape_numel(it.shape)) * elem;
    header[it.name] = {{"dtype", dtype == DType::F32 ? "F32" : "BF16"},
                       {"shape", it.shape},
                       {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text = header.dump();
  text.resize((text.size() + 7) / 8 * 8, ' ');  // the data 8-byte aligned, as the library writes
  unsigned char length[8];
  for (int i = 0; i < 8; ++i) length[i] = static_cast<unsigned char>(text.size() >> (8 * i));
  DurableFile out(path);
  out.write(length, sizeof length);
  out.write(text.data(), text.size());
  std::vector<uint16_t> half;
  for (const SafetensorsItem& it : items) {
    const Tensor value = it.value();
    if (value.shape() != it.shape || value.dtype() != DType::F32)
      throw InternalError("safetensors: " + it.name + " is not the f32 " + shape_str(it.shape) +
                          " its header entry says");
    if (dtype == DType::F32) {
      out.write(value.f32(), value.bytes());
      continue;
    }
    half.resize(static_cast<size_t>(value.numel()));
    for (size_t i = 0; i < half.size(); ++i) half[i] = float_to_bf16(value.f32()[i]);
    out.write(half.data(), half.size() * sizeof(uint16_t));
  }
  out.commit();
}

}  // namespace trainer
