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

class BlockCache {
 public:
  struct Stats {
    int64_t bytes_in_use, buffers, bytes_cached;
  };

  // A cached block of class `cls` (accounted as `bytes` in use), or nullptr.
  void* reuse(size_t cls, size_t bytes) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = free_.find(cls);
    if (it == free_.end() || it->second.empty()) return nullptr;
    void* p = it->second.back();
    it->second.pop_back();
    cached_ -= int64_t(cls);
    in_use_ += int64_t(bytes);
    buffers_++;
    return p;
  }

  // Accounts a freshly allocated block.
  void adopt(size_t bytes) {
    std::lock_guard<std::mutex> lock(mu_);
    in_use_ += int64_t(bytes);
    buffers_++;
  }

  // Takes a block back; returns the blocks to release so that at most `limit` bytes stay cached
  // (largest classes first: the costliest to keep).
  std::vector<void*> give_back(void* p, size_t cls, size_t bytes, size_t limit) {
    std::lock_guard<std::mutex> lock(mu_);
    in_use_ -= int64_t(bytes);
    buffers_--;
    free_[cls].push_back(p);
    cached_ += int64_t(cls);
    std::vector<void*> release;
    while (size_t(cached_) > limit && !free_.empty()) {
      auto it = std::prev(free_.end());
      if (it->second.empty()) {
        free_.erase(it);
        continue;
      }
      release.push_back(it->second.back());
      it->second.pop_back();
      cached_ -= int64_t(it->first);
    }
    return release;
  }

  // Empties the cache; the caller releases the returned blocks.
  std::vector<void*> drain() {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<void*> all;
    for (auto& [cls, blocks] : free_) all.insert(all.end(), blocks.begin(), blocks.end());
    free_.clear();
    cached_ = 0;
    return all;
  }

  Stats stats() {
    std::lock_guard<std::mutex> lock(mu_);
    return {in_use_, buffers_, cached_};
  }

 private:
  std::mutex mu_;
  std::map<size_t, std::vector<void*>> free_;
  int64_t in_use_ = 0, buffers_ = 0, cached_ = 0;
};

}  // namespace dit
