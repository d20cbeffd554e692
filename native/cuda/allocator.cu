// Caching device allocator: cudaMalloc / cudaFree are slow and synchronise, so freed blocks are
// kept by size class (common/block_cache.h) and handed out again. Stream-ordered like the CPU
// allocator (cpu/allocator.h): every op runs on the one stream, so a block freed by JS can be
// reused at once. When cudaMalloc fails the cache is given back (after the stream drains) and the
// call retried; only then is it out of memory.
#include <limits>

#include "../common/block_cache.h"
#include "backend.h"
#include "common.cuh"

namespace dit::cuda {

namespace {

size_t size_class(size_t bytes) {
  constexpr size_t kMin = 512;
  if (bytes <= kMin) return kMin;
  if (bytes <= (1 << 20)) return (bytes + kMin - 1) / kMin * kMin;
  size_t pow2 = 1 << 20;
  while (pow2 * 2 < bytes) pow2 *= 2;
  const size_t step = pow2 / 8;
  return (bytes + step - 1) / step * step;
}

BlockCache& cache() {
  static BlockCache* c = new BlockCache();
  return *c;
}

}  // namespace

void* device_alloc(size_t bytes, size_t* capacity) {
  const size_t cls = size_class(bytes);
  *capacity = cls;
  if (void* p = cache().reuse(cls, bytes)) return p;
  stream();  // selects the device
  void* p = nullptr;
  cudaError_t err = cudaMalloc(&p, cls);
  if (err == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    cudaStreamSynchronize(stream());
    for (void* b : cache().drain()) cudaFree(b);
    err = cudaMalloc(&p, cls);
  }
  if (err == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    return nullptr;
  }
  check(err, "cudaMalloc");
  cache().adopt(bytes);
  return p;
}

void device_free(void* p, size_t capacity, size_t bytes) {
  // no limit on the device cache (as PyTorch's): it is given back when cudaMalloc fails
  cache().give_back(p, capacity, bytes, std::numeric_limits<size_t>::max());
}

DeviceMemoryStats device_memory_stats() {
  const BlockCache::Stats s = cache().stats();
  return {s.bytes_in_use, s.buffers, s.bytes_cached};
}

DeviceScratch::DeviceScratch(size_t bytes) : bytes_(bytes) {
  ptr_ = device_alloc(bytes, &capacity_);
  if (!ptr_) throw std::runtime_error("cudaErrorMemoryAllocation: out of device memory for " + std::to_string(bytes) + " bytes of scratch");
}

DeviceScratch::~DeviceScratch() { device_free(ptr_, capacity_, bytes_); }

}  // namespace dit::cuda
