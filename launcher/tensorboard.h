// TensorBoard event files: what TensorBoard (and the tools that read its files) shows, written by
// rank 0 beside metrics.jsonl (log.tensorboard: true).
//
// A file is a sequence of TFRecords (length as 8 bytes little-endian, its masked CRC-32C, the
// data, the data's masked CRC-32C), each holding one serialized tensorflow.Event protobuf: the
// first says the file version, the rest each a scalar or a text at a step. The few protobuf
// fields these need are encoded here directly (varints, length-delimited fields, fixed doubles
// and floats): no protobuf compiler or schema files for four messages.
#pragma once

#include <cstdint>
#include <fstream>
#include <string>

namespace trainer {

class EventFile {
 public:
  // Creates <dir>/events.out.tfevents.<unix seconds>.<host> and writes the version event.
  // Throws OutputError.
  explicit EventFile(const std::string& dir);
  // A scalar (TensorBoard's "simple value") and a text (the text plugin's string tensor) at
  // `step`; each record is flushed, so a crashed run keeps what it logged. Throw OutputError.
  void scalar(const std::string& tag, int64_t step, double value);
  void text(const std::string& tag, int64_t step, const std::string& text);
  const std::string& path() const { return path_; }

 private:
  // Writes an Event with this wall time and step around the serialized `summary` (empty: the
  // version event).
  void write_event(int64_t step, const std::string& summary, const std::string& file_version);
  void write_record(const std::string& data);

  std::string path_;
  std::ofstream out_;
};

// CRC-32C (Castagnoli), the checksum of TFRecord framing; masked as TensorFlow does (rotated
// right by 15 bits, plus 0xa282ead8) where the records store it.
uint32_t crc32c(const void* data, size_t bytes);
uint32_t masked_crc32c(const void* data, size_t bytes);

}  // namespace trainer
