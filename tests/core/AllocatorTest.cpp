// The host allocator hands a freed block of the same size back instead of asking the OS again.
#include <gtest/gtest.h>

#include <cstdint>

#include "core/allocator.h"

namespace trainer {
namespace {

TEST(AllocatorTest, AFreedBlockIsReusedForTheSameSize) {
  const size_t bytes = 3 * 1000 * 1000 + 7;  // an odd size no other test uses
  void* a = host_allocate(bytes);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(a) % 64, 0u);  // aligned for AVX-512 rows
  host_free(a, bytes);
  const HostCacheStats before = host_cache_stats();
  void* b = host_allocate(bytes);
  const HostCacheStats after = host_cache_stats();
  EXPECT_EQ(b, a);
  EXPECT_EQ(after.hits, before.hits + 1);
  EXPECT_EQ(after.cached_bytes + ((bytes + 63) / 64 * 64), before.cached_bytes);
  void* c = host_allocate(bytes);  // the cached one is taken: a new block
  EXPECT_NE(c, b);
  host_free(b, bytes);
  host_free(c, bytes);
}

}  // namespace
}  // namespace trainer
