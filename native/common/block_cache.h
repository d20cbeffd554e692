// Free lists by size class with the accounting, shared by the CPU and CUDA caching allocators
// (cpu/allocator.cpp, cuda/allocator.cu); each allocator brings its own malloc / free and its own
// policy for when memory runs out. Thread-safe.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <vector>

namespace dit {

// The counters of a caching allocator (kept under its lock) and the free-list pop, shared by
// BlockCache and StreamBlockCache (stream_block_cache.h).
struct BlockCounters {
  int64_t in_use = 0, buffers = 0, cached = 0;
  void reused(size_t cls, size_t bytes) {
    cached -= int64_t(cls);
    in_use += int64_t(bytes);
    buffers++;
  }
  void adopted(size_t bytes) {
    in_use += int64_t(bytes);
    buffers++;
  }
  void returned(size_t cls, size_t bytes) {
    in_use -= int64_t(bytes);
    buffers--;
    cached += int64_t(cls);
  }
};

// The last block of free list `key`, removed (and the list when emptied), or nullptr.
template <typename Key>
void* pop_free_block(std::map<Key, std::vector<void*>>& free, const Key& key) {
  auto it = free.find(key);
  if (it == free.end() || it->second.empty()) return nullptr;
  void* p = it->second.back();
  it->second.pop_back();
  if (it->second.empty()) free.erase(it);
  return p;
}

class BlockCache {
 public:
  struct Stats {
    int64_t bytes_in_use, buffers, bytes_cached;
  };

  // A cached block of class `cls` (accounted as `bytes` in use), or nullptr.
  void* reuse(size_t cls, size_t bytes) {
    std::lock_guard<std::mutex> lock(mu_);
    void* p = pop_free_block(free_, cls);
    if (p) n_.reused(cls, bytes);
    return p;
  }

  // Accounts a freshly allocated block.
  void adopt(size_t bytes) {
    std::lock_guard<std::mutex> lock(mu_);
    n_.adopted(bytes);
  }

  // Takes a block back; returns the blocks to release so that at most `limit` bytes stay cached
  // (largest classes first: the costliest to keep).
  std::vector<void*> give_back(void* p, size_t cls, size_t bytes, size_t limit) {
    std::lock_guard<std::mutex> lock(mu_);
    n_.returned(cls, bytes);
    free_[cls].push_back(p);
    std::vector<void*> release;
    while (size_t(n_.cached) > limit && !free_.empty()) {
      auto it = std::prev(free_.end());
      if (it->second.empty()) {
        free_.erase(it);
        continue;
      }
      release.push_back(it->second.back());
      it->second.pop_back();
      n_.cached -= int64_t(it->first);
    }
    return release;
  }

  // Empties the cache; the caller releases the returned blocks.
  std::vector<void*> drain() {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<void*> all;
    for (auto& [cls, blocks] : free_) all.insert(all.end(), blocks.begin(), blocks.end());
    free_.clear();
    n_.cached = 0;
    return all;
  }

  Stats stats() {
    std::lock_guard<std::mutex> lock(mu_);
    return {n_.in_use, n_.buffers, n_.cached};
  }

 private:
  std::mutex mu_;
  std::map<size_t, std::vector<void*>> free_;
  BlockCounters n_;
};

}  // namespace dit
