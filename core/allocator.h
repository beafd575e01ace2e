// Host memory for tensors, cached by size.
//
// A training step allocates the same sizes in the same order every time; returning freed
// blocks to the OS and faulting them in again costs more than the arithmetic of small layers.
// Freed blocks are kept per exact size and handed out again, up to a cap on what is kept idle.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace trainer {

// Throws MemoryError (naming the bytes) when the request is larger than the machine's memory or
// the system refuses it.
void* host_allocate(size_t bytes);
void host_free(void* p, size_t bytes);

// Returns every idle cached block to the OS: for sizes that will not be asked for again (the
// layers' own parameter tensors once the model has moved them into its flat buffers).
void host_cache_trim();

struct HostCacheStats {
  size_t cached_bytes;  // idle, kept for reuse
  size_t hits, misses;
};
HostCacheStats host_cache_stats();

// The machine's physical memory in bytes.
size_t physical_memory_bytes();

// Address space this process may still map under its limit (ulimit -v), or SIZE_MAX when
// unlimited.
size_t address_space_left();

// The most resident memory this process has had (getrusage's ru_maxrss), in bytes.
int64_t peak_resident_bytes();

// "3.1 GB": a size for messages.
std::string human_bytes(double bytes);

}  // namespace trainer
