// Caching device allocator: cudaMalloc / cudaFree are slow and synchronise, so freed blocks are
// kept by size class and handed out again. Stream-ordered like the CPU allocator
// (cpu/allocator.h): every op runs on the one stream, so a block freed by JS can be reused at once.
// When cudaMalloc fails the cache is given back (after the stream drains) and the call retried.
#include <map>
#include <mutex>
#include <vector>

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

struct State {
  std::mutex mu;
  std::map<size_t, std::vector<void*>> free_blocks;
  int64_t in_use = 0, buffers = 0, cached = 0;
};

State& state() {
  static State* s = new State();
  return *s;
}

void release_cache(State& s) {
  for (auto& [size, blocks] : s.free_blocks)
    for (void* b : blocks) cudaFree(b);
  s.free_blocks.clear();
  s.cached = 0;
}

}  // namespace

void* device_alloc(size_t bytes, size_t* capacity) {
  const size_t cls = size_class(bytes);
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  auto it = s.free_blocks.find(cls);
  void* p = nullptr;
  if (it != s.free_blocks.end() && !it->second.empty()) {
    p = it->second.back();
    it->second.pop_back();
    s.cached -= int64_t(cls);
  } else {
    stream();  // selects the device
    cudaError_t err = cudaMalloc(&p, cls);
    if (err == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      cudaStreamSynchronize(stream());
      release_cache(s);
      err = cudaMalloc(&p, cls);
    }
    if (err == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      return nullptr;
    }
    check(err, "cudaMalloc");
  }
  s.in_use += int64_t(bytes);
  s.buffers++;
  *capacity = cls;
  return p;
}

void device_free(void* p, size_t capacity, size_t bytes) {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  s.in_use -= int64_t(bytes);
  s.buffers--;
  s.free_blocks[capacity].push_back(p);
  s.cached += int64_t(capacity);
}

DeviceMemoryStats device_memory_stats() {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  return {s.in_use, s.buffers, s.cached};
}

DeviceScratch::DeviceScratch(size_t bytes) : bytes_(bytes) {
  ptr_ = device_alloc(bytes, &capacity_);
  if (!ptr_) throw std::runtime_error("cudaErrorMemoryAllocation: out of device memory for " + std::to_string(bytes) + " bytes of scratch");
}

DeviceScratch::~DeviceScratch() { device_free(ptr_, capacity_, bytes_); }

}  // namespace dit::cuda
