#include "launcher/tensorboard.h"

#include <unistd.h>

#include <array>
#include <chrono>
#include <cstring>
#include <filesystem>

#include "core/error.h"

namespace trainer {

namespace {

std::array<uint32_t, 256> make_crc_table() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;  // reflected
    table[i] = c;
  }
  return table;
}

// Protobuf's wire format, the parts an Event needs.
void varint(std::string& out, uint64_t v) {
  for (; v >= 0x80; v >>= 7) out += static_cast<char>((v & 0x7F) | 0x80);
  out += static_cast<char>(v);
}
void key(std::string& out, int field, int wire_type) {
  varint(out, static_cast<uint64_t>(field) << 3 | static_cast<uint64_t>(wire_type));
}
void bytes_field(std::string& out, int field, const std::string& bytes) {
  key(out, field, 2);
  varint(out, bytes.size());
  out += bytes;
}
template <class T>
void fixed_field(std::string& out, int field, T value) {  // double (wire type 1), float (5)
  key(out, field, sizeof(T) == 8 ? 1 : 5);
  char raw[sizeof(T)];
  std::memcpy(raw, &value, sizeof(T));  // little-endian, as this project's targets are
  out.append(raw, sizeof(T));
}

// Summary { repeated Value value = 1; } with one Value.
std::string summary_of(const std::string& value) {
  std::string summary;
  bytes_field(summary, 1, value);
  return summary;
}

std::string host_name() {
  char name[256] = {};
  if (gethostname(name, sizeof name - 1) != 0) return "localhost";
  return name;
}

}  // namespace

uint32_t crc32c(const void* data, size_t bytes) {
  static const std::array<uint32_t, 256> table = make_crc_table();
  const auto* p = static_cast<const unsigned char*>(data);
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < bytes; ++i) c = table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

uint32_t masked_crc32c(const void* data, size_t bytes) {
  const uint32_t c = crc32c(data, bytes);
  return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

EventFile::EventFile(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw OutputError("cannot create " + dir + ": " + ec.message());
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
  path_ = dir + "/events.out.tfevents." + std::to_string(seconds) + "." + host_name();
  out_.open(path_, std::ios::binary | std::ios::app);
  if (!out_) throw OutputError("cannot write " + path_);
  write_event(0, "", "brain.Event:2");
}

void EventFile::scalar(const std::string& tag, int64_t step, double value) {
  std::string v;  // Value { tag = 1; simple_value = 2 (float) }
  bytes_field(v, 1, tag);
  fixed_field(v, 2, static_cast<float>(value));
  write_event(step, summary_of(v), "");
}

void EventFile::text(const std::string& tag, int64_t step, const std::string& text) {
  // TensorProto { dtype = 1 (DT_STRING: 7); tensor_shape = 2 (a vector of one);
  // string_val = 8 }, and SummaryMetadata { plugin_data = 1 { plugin_name = 1: "text" } }.
  std::string dim, shape, tensor, plugin, metadata, v;
  key(dim, 1, 0);
  varint(dim, 1);
  bytes_field(shape, 2, dim);
  key(tensor, 1, 0);
  varint(tensor, 7);
  bytes_field(tensor, 2, shape);
  bytes_field(tensor, 8, text);
  bytes_field(plugin, 1, "text");
  bytes_field(metadata, 1, plugin);
  bytes_field(v, 1, tag);  // Value { tag = 1; metadata = 9; tensor = 8 }
  bytes_field(v, 9, metadata);
  bytes_field(v, 8, tensor);
  write_event(step, summary_of(v), "");
}

void EventFile::write_event(int64_t step, const std::string& summary,
                            const std::string& file_version) {
  // Event { wall_time = 1 (double); step = 2 (int64); file_version = 3; summary = 5 }
  std::string event;
  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  fixed_field(event, 1, now);
  key(event, 2, 0);
  varint(event, static_cast<uint64_t>(step));
  if (!file_version.empty()) bytes_field(event, 3, file_version);
  if (!summary.empty()) bytes_field(event, 5, summary);
  write_record(event);
}

void EventFile::write_record(const std::string& data) {
  char length[8];
  const uint64_t n = data.size();
  std::memcpy(length, &n, 8);
  const uint32_t length_crc = masked_crc32c(length, 8), data_crc = masked_crc32c(data.data(), n);
  out_.write(length, 8);
  out_.write(reinterpret_cast<const char*>(&length_crc), 4);
  out_.write(data.data(), static_cast<std::streamsize>(n));
  out_.write(reinterpret_cast<const char*>(&data_crc), 4);
  out_.flush();
  if (!out_) throw OutputError("cannot write " + path_ + " (is the disk full?)");
}

}  // namespace trainer
