// A file of named tensors: the shard format of checkpoints.
//
// Layout: "TRNTENS1", u64 count, then per tensor: u32 name length, name, u32 dtype, u32 ndim,
// i64 dims[ndim], raw little-endian data. Integrity is checked by the caller's CRC-32.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace trainer {

using NamedTensors = std::vector<std::pair<std::string, Tensor*>>;

// Writes the tensors and fsyncs the file; returns its CRC-32. Throws CheckpointError.
uint32_t write_tensor_file(const std::string& path, const NamedTensors& tensors);
// Fills the given tensors in place, in order; names, dtypes and shapes must match exactly.
void read_tensor_file(const std::string& path, const NamedTensors& tensors);
// Every tensor of the file, in its order, on the host (whatever the names). Throws
// CheckpointError.
std::vector<std::pair<std::string, Tensor>> read_all_tensors(const std::string& path);
// CRC-32 and size of a whole file. Throws CheckpointError.
std::pair<uint32_t, uint64_t> file_crc32(const std::string& path);

}  // namespace trainer
