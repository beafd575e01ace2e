#include "core/allocator.h"

#include <sys/resource.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

#include "core/error.h"

namespace trainer {

namespace {

// 64-byte alignment keeps every row start of a BLAS operand on a cache line / AVX-512 boundary.
constexpr size_t kAlign = 64;
// Idle memory kept beyond this is returned to the OS.
constexpr size_t kMaxCached = size_t{1} << 30;

struct Cache {
  std::mutex mu;
  std::unordered_map<size_t, std::vector<void*>> free_blocks;  // by rounded size
  size_t cached = 0, hits = 0, misses = 0;
};

Cache& cache() {
  static Cache* c = new Cache;  // never destroyed: tensors may be freed during static teardown
  return *c;
}

size_t rounded(size_t bytes) {
  return bytes == 0 ? kAlign : (bytes + kAlign - 1) / kAlign * kAlign;
}

}  // namespace

void* host_allocate(size_t bytes) {
  const size_t size = rounded(bytes);
  Cache& c = cache();
  {
    std::lock_guard<std::mutex> lock(c.mu);
    auto it = c.free_blocks.find(size);
    if (it != c.free_blocks.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      c.cached -= size;
      ++c.hits;
      return p;
    }
    ++c.misses;
  }
  if (size > physical_memory_bytes())
    throw MemoryError("cannot allocate " + human_bytes(static_cast<double>(size)) +
                      ": the machine has " +
                      human_bytes(static_cast<double>(physical_memory_bytes())) + " of memory");
  void* p = std::aligned_alloc(kAlign, size);
  if (!p)
    throw MemoryError("cannot allocate " + human_bytes(static_cast<double>(size)) +
                      ": the system has no more memory for this process");
  return p;
}

void host_free(void* p, size_t bytes) {
  if (!p) return;
  const size_t size = rounded(bytes);
  Cache& c = cache();
  {
    std::lock_guard<std::mutex> lock(c.mu);
    if (c.cached + size <= kMaxCached) {
      c.free_blocks[size].push_back(p);
      c.cached += size;
      return;
    }
  }
  std::free(p);
}

void host_cache_trim() {
  Cache& c = cache();
  std::unordered_map<size_t, std::vector<void*>> idle;
  {
    std::lock_guard<std::mutex> lock(c.mu);
    idle.swap(c.free_blocks);
    c.cached = 0;
  }
  for (auto& [size, blocks] : idle)
    for (void* p : blocks) std::free(p);
}

size_t physical_memory_bytes() {
  static const size_t bytes =
      static_cast<size_t>(sysconf(_SC_PHYS_PAGES)) * static_cast<size_t>(sysconf(_SC_PAGE_SIZE));
  return bytes;
}

size_t address_space_left() {
  rlimit limit{};
  if (getrlimit(RLIMIT_AS, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return SIZE_MAX;
  size_t pages = 0;  // the first field of statm: the mapped size, in pages
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%zu", &pages) != 1) pages = 0;
    std::fclose(f);
  }
  const size_t mapped = pages * static_cast<size_t>(sysconf(_SC_PAGE_SIZE));
  return limit.rlim_cur > mapped ? limit.rlim_cur - mapped : 0;
}

int64_t peak_resident_bytes() {
  rusage usage{};
  if (getrusage(RUSAGE_SELF, &usage) != 0) return 0;
  return static_cast<int64_t>(usage.ru_maxrss) * 1024;  // Linux counts kilobytes
}

std::string human_bytes(double bytes) {
  static const char* const kUnits[] = {"B", "KB", "MB", "GB", "TB", "PB", "EB"};
  int u = 0;
  while (bytes >= 1000.0 && u < 6) {
    bytes /= 1000.0;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", bytes, kUnits[u]);
  return buf;
}

HostCacheStats host_cache_stats() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  return {c.cached, c.hits, c.misses};
}

}  // namespace trainer
