#include "allocator.h"

#include <cstdlib>
#include <map>
#include <mutex>
#include <vector>

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
    long mb = env ? std::atol(env) : 2048;
    return size_t(mb < 0 ? 0 : mb) << 20;
  }();
  return limit;
}

struct State {
  std::mutex mu;
  std::map<size_t, std::vector<void*>> free_blocks;
  int64_t in_use = 0, buffers = 0, cached = 0;
};

State& state() {
  static State* s = new State();  // leaked: outlives static destruction (the executor may still free)
  return *s;
}

}  // namespace

void* cached_alloc(size_t bytes, size_t* capacity) {
  const size_t cls = size_class(bytes);
  State& s = state();
  {
    std::lock_guard<std::mutex> lock(s.mu);
    auto it = s.free_blocks.find(cls);
    if (it != s.free_blocks.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      s.cached -= int64_t(cls);
      s.in_use += int64_t(bytes);
      s.buffers++;
      *capacity = cls;
      return p;
    }
  }
  void* p = std::aligned_alloc(kAlignment, cls);
  if (!p) {
    // out of memory: wait for queued work, give the whole cache back, try once more
    fence().get();
    {
      std::lock_guard<std::mutex> lock(s.mu);
      for (auto& [size, blocks] : s.free_blocks)
        for (void* b : blocks) std::free(b);
      s.free_blocks.clear();
      s.cached = 0;
    }
    p = std::aligned_alloc(kAlignment, cls);
    if (!p) return nullptr;
  }
  std::lock_guard<std::mutex> lock(s.mu);
  s.in_use += int64_t(bytes);
  s.buffers++;
  *capacity = cls;
  return p;
}

void cached_free(void* p, size_t capacity, size_t bytes) {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  s.in_use -= int64_t(bytes);
  s.buffers--;
  s.free_blocks[capacity].push_back(p);
  s.cached += int64_t(capacity);
  // over the limit: release the largest cached blocks (the costliest to keep) once queued work is done
  std::vector<void*> release;
  while (size_t(s.cached) > cache_limit() && !s.free_blocks.empty()) {
    auto it = std::prev(s.free_blocks.end());
    if (it->second.empty()) {
      s.free_blocks.erase(it);
      continue;
    }
    release.push_back(it->second.back());
    it->second.pop_back();
    s.cached -= int64_t(it->first);
  }
  if (!release.empty()) {
    enqueue([release] {
      for (void* b : release) std::free(b);
    });
  }
}

AllocatorStats allocator_stats() {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  return {s.in_use, s.buffers, s.cached};
}

}  // namespace dit::cpu
