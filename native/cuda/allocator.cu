// Caching device allocator: cudaMalloc / cudaFree are slow and synchronise, so freed blocks are
// kept by size class, in a pool per stream (common/stream_block_cache.h), and handed out again.
// A block used only on its own stream is reusable at once (stream order); one that other streams
// used waits for events recorded on them. When cudaMalloc fails the device is synchronised, the
// cache given back and the call retried; only then is it out of memory.
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

// CUDA events for StreamBlockCache, recycled (creating one per cross-stream free would cost a
// driver call each). A failed record falls back to waiting for that stream (the event is then
// nullptr: done). Called under the cache's lock, so the free list needs none of its own.
struct CudaEvents {
  using Event = cudaEvent_t;
  std::vector<cudaEvent_t> spare;

  cudaEvent_t record(StreamId s) {
    cudaStream_t st = stream_of(s);
    if (!st) return nullptr;  // destroyed meanwhile: synchronised then
    cudaEvent_t e = nullptr;
    if (!spare.empty()) {
      e = spare.back();
      spare.pop_back();
    } else if (cudaEventCreateWithFlags(&e, cudaEventDisableTiming) != cudaSuccess) {
      cudaGetLastError();
      e = nullptr;
    }
    if (e && cudaEventRecord(e, st) == cudaSuccess) return e;
    cudaGetLastError();
    if (e) spare.push_back(e);
    if (cudaStreamSynchronize(st) != cudaSuccess) cudaGetLastError();
    return nullptr;
  }
  bool done(cudaEvent_t e) {
    if (!e) return true;
    const cudaError_t err = cudaEventQuery(e);
    if (err == cudaSuccess) return true;
    cudaGetLastError();  // keep it from surfacing at the next launch, blamed on another op
    // not ready: wait; any other error is a fault that the next synchronising call reports
    return err != cudaErrorNotReady;
  }
  void release(cudaEvent_t e) {
    if (e) spare.push_back(e);
  }
};

StreamBlockCache<CudaEvents>& cache() {
  static auto* c = new StreamBlockCache<CudaEvents>();  // never destroyed: no CUDA calls at exit
  return *c;
}

}  // namespace

void stream_cache_add(StreamId id) { cache().add_stream(id); }
void stream_cache_retire(StreamId id) { cache().retire_stream(id); }

void* device_alloc(size_t bytes, size_t* capacity) {
  const size_t cls = size_class(bytes);
  *capacity = cls;
  const StreamId owner = current_stream_id();
  if (void* p = cache().reuse(owner, cls, bytes)) return p;
  stream();  // selects the device
  void* p = nullptr;
  cudaError_t err = cudaMalloc(&p, cls);
  if (err == cudaErrorMemoryAllocation) {
    // every stream idle, so every cached block (pending ones too) can go
    cudaGetLastError();
    cudaDeviceSynchronize();
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

void device_free(void* p, size_t capacity, size_t bytes, StreamId owner, const std::vector<StreamId>& used) {
  // no limit on the device cache (as PyTorch's): it is given back when cudaMalloc fails
  cache().give_back(p, capacity, bytes, owner, used);
}

DeviceMemoryStats device_memory_stats() {
  const auto s = cache().stats();
  return {s.bytes_in_use, s.buffers, s.bytes_cached};
}

DeviceScratch::DeviceScratch(size_t bytes) : bytes_(bytes), owner_(current_stream_id()) {
  ptr_ = device_alloc(bytes, &capacity_);
  if (!ptr_) throw std::runtime_error("cudaErrorMemoryAllocation: out of device memory for " + std::to_string(bytes) + " bytes of scratch");
}

DeviceScratch::~DeviceScratch() { device_free(ptr_, capacity_, bytes_, owner_, {}); }

}  // namespace dit::cuda
