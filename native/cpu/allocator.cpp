#include "allocator.h"

#include <cstdlib>

#include "../common/block_cache.h"
#include "queue.h"

namespace dit::cpu {

namespace {

constexpr size_t kAlignment = 64;

// Size classes: multiples of 64 bytes up to 4 KiB, then four classes per power of two (<= 25% waste).
size_t size_class(size_t bytes) {
  if (bytes <= 4096) return bytes == 0 ? kAlignment : (bytes + kAlignment - 1) / kAlignment * kAlignment;
  size_t pow2 = 4096;
  while (pow2 * 2 < bytes) pow2 *= 2;
  const size_t step = pow2 / 4;
  return (bytes + step - 1) / step * step;
}

size_t cache_limit() {
  static const size_t limit = [] {
    const char* env = std::getenv("DIT_CPU_CACHE_MB");
    long mb = env ? std::atol(env) : 512;
    return size_t(mb < 0 ? 0 : mb) << 20;
  }();
  return limit;
}

BlockCache& cache() {
  static BlockCache* c = new BlockCache();  // leaked: outlives static destruction
  return *c;
}

}  // namespace

void* cached_alloc(size_t bytes, size_t* capacity) {
  const size_t cls = size_class(bytes);
  *capacity = cls;
  if (void* p = cache().reuse(cls, bytes)) return p;
  void* p = std::aligned_alloc(kAlignment, cls);
  if (!p) {
    // out of memory: wait for queued work, give the whole cache back, try once more
    fence().get();
    for (void* b : cache().drain()) std::free(b);
    p = std::aligned_alloc(kAlignment, cls);
    if (!p) return nullptr;
  }
  cache().adopt(bytes);
  return p;
}

void cached_free(void* p, size_t capacity, size_t bytes) {
  std::vector<void*> release = cache().give_back(p, capacity, bytes, cache_limit());
  if (!release.empty()) {
    enqueue([release] {  // only once the queued work that may still use them has run
      for (void* b : release) std::free(b);
    });
  }
}

AllocatorStats allocator_stats() {
  const BlockCache::Stats s = cache().stats();
  return {s.bytes_in_use, s.buffers, s.bytes_cached};
}

}  // namespace dit::cpu
