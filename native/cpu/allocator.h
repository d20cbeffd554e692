// Caching host allocator of the CPU backend: freed blocks are kept by size class and handed out
// again, so a forward's temporaries do not pay for fresh pages (mmap + page faults) every time.
// Stream-ordered like PyTorch's CUDA caching allocator: a block freed from JS may still be used by
// queued work, but it can be handed out at once because everything its next owner does is queued
// after that work. Only giving memory back to the OS has to wait for the queue.
#pragma once
#include <cstddef>
#include <cstdint>

namespace dit::cpu {

struct AllocatorStats {
  int64_t bytes_in_use, buffers, bytes_cached;
};

// A block of at least `bytes` (64-byte aligned), nullptr when out of memory; *capacity gets its class size.
void* cached_alloc(size_t bytes, size_t* capacity);
// Returns a block to the cache; blocks past the cache limit are released to the OS in queue order.
void cached_free(void* p, size_t capacity, size_t bytes);
AllocatorStats allocator_stats();

}  // namespace dit::cpu
