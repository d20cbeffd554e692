// The CUDA emulator's runtime API: device memory is host memory (with a capacity, so running out
// is an error as on a GPU), copies are memcpy, kernels run at their launch so streams and events
// are bookkeeping: a destroyed stream or event used again is cudaErrorInvalidResourceHandle, as is
// timing an event created with cudaEventDisableTiming. After a kernel fault every call returns
// cudaErrorLaunchFailure, like a CUDA context after a fault.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <set>

#include "scheduler.h"

struct dit_emu_stream {
  unsigned flags;
};
struct dit_emu_event {
  unsigned flags;
  bool recorded;
  std::chrono::steady_clock::time_point at;
};

namespace dit_emu {

namespace {

std::mutex mu;
cudaError_t last_error = cudaSuccess, sticky_error = cudaSuccess;
std::map<void*, size_t> allocations;
size_t bytes_allocated = 0;
std::set<cudaStream_t> live_streams;
std::set<cudaEvent_t> live_events;

// DIT_EMU_MEMORY_MB: the emulated device's memory (default 4096 MiB).
size_t device_memory() {
  static const size_t bytes = [] {
    const char* e = std::getenv("DIT_EMU_MEMORY_MB");
    return size_t(e ? std::strtoull(e, nullptr, 10) : 4096) << 20;
  }();
  return bytes;
}

// DIT_EMU_SMS: the emulated device's multiprocessors (default an H100's 132); a few make the
// persistent kernels loop over several tiles per block on small test shapes.
int multiprocessors() {
  static const int sms = [] {
    const char* e = std::getenv("DIT_EMU_SMS");
    const long n = e ? std::strtol(e, nullptr, 10) : 132;
    return int(n > 0 ? n : 132);
  }();
  return sms;
}

cudaError_t fail(cudaError_t err) {
  last_error = err;
  return err;
}

// Every call starts here: the sticky error of a faulted context, else success.
cudaError_t status() { return sticky_error; }

bool stream_ok(cudaStream_t s) { return s == nullptr || live_streams.count(s) > 0; }

// Streams and events are checked handles: made and registered, or refused once destroyed.
template <typename Handle, typename State>
cudaError_t create_handle(std::set<Handle>& live, Handle* out, State state) {
  std::lock_guard<std::mutex> lock(mu);
  if (status()) return status();
  *out = new State(state);
  live.insert(*out);
  return cudaSuccess;
}
template <typename Handle>
cudaError_t destroy_handle(std::set<Handle>& live, Handle h) {
  std::lock_guard<std::mutex> lock(mu);
  if (!h || !live.erase(h)) return fail(cudaErrorInvalidResourceHandle);
  delete h;
  return status();
}

}  // namespace

cudaError_t launch_status(cudaStream_t stream) {
  std::lock_guard<std::mutex> lock(mu);
  if (sticky_error) return sticky_error;
  return stream_ok(stream) ? cudaSuccess : cudaErrorInvalidResourceHandle;
}

void set_launch_error(cudaError_t err) {
  std::lock_guard<std::mutex> lock(mu);
  last_error = err;
}

void set_sticky_error(cudaError_t err) {
  std::lock_guard<std::mutex> lock(mu);
  sticky_error = err;
  last_error = err;
}

}  // namespace dit_emu

using namespace dit_emu;

const char* cudaGetErrorName(cudaError_t err) {
  switch (err) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInsufficientDriver: return "cudaErrorInsufficientDriver";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
    case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
    case cudaErrorNotReady: return "cudaErrorNotReady";
    case cudaErrorIllegalAddress: return "cudaErrorIllegalAddress";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
  }
  return "cudaErrorUnknown";
}

const char* cudaGetErrorString(cudaError_t err) {
  switch (err) {
    case cudaSuccess: return "no error";
    case cudaErrorMemoryAllocation: return "out of memory (CUDA emulator)";
    case cudaErrorLaunchFailure: return "unspecified launch failure (CUDA emulator: see the kernel fault on stderr)";
    default: return "CUDA emulator error";
  }
}

cudaError_t cudaGetLastError() {
  std::lock_guard<std::mutex> lock(mu);
  const cudaError_t err = last_error;
  last_error = sticky_error;
  return err;
}

cudaError_t cudaPeekAtLastError() {
  std::lock_guard<std::mutex> lock(mu);
  return last_error;
}

cudaError_t cudaRuntimeGetVersion(int* v) {
  *v = 13000;
  return cudaSuccess;
}
cudaError_t cudaDriverGetVersion(int* v) {
  *v = 13000;
  return cudaSuccess;
}
cudaError_t cudaGetDeviceCount(int* n) {
  *n = 1;
  return cudaSuccess;
}

cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device) {
  if (device != 0) return fail(cudaErrorInvalidValue);
  *prop = cudaDeviceProp{};
  std::snprintf(prop->name, sizeof prop->name, "CUDA emulator (dit-native native test)");
  prop->totalGlobalMem = device_memory();
  prop->sharedMemPerBlockOptin = kSharedOptin;
  prop->major = 9;  // an H100's: the Hopper kernels (the default there) run
  prop->minor = 0;
  prop->multiProcessorCount = multiprocessors();
  prop->maxGridSize[0] = 2147483647;
  prop->maxGridSize[1] = prop->maxGridSize[2] = int(max_grid_y());
  return cudaSuccess;
}

cudaError_t cudaSetDevice(int device) {
  std::lock_guard<std::mutex> lock(mu);
  return device == 0 ? status() : fail(cudaErrorInvalidValue);
}

cudaError_t cudaDeviceSynchronize() {
  wait_for_kernels();
  std::lock_guard<std::mutex> lock(mu);
  return status();
}

cudaError_t cudaMalloc(void** p, size_t bytes) {
  std::lock_guard<std::mutex> lock(mu);
  if (status()) return status();
  *p = nullptr;
  const size_t rounded = (bytes + 255) / 256 * 256;
  if (rounded > device_memory() - bytes_allocated) return fail(cudaErrorMemoryAllocation);
  void* mem = std::aligned_alloc(256, rounded ? rounded : 256);
  if (!mem) return fail(cudaErrorMemoryAllocation);
  allocations[mem] = rounded;
  bytes_allocated += rounded;
  *p = mem;
  return cudaSuccess;
}

cudaError_t cudaFree(void* p) {
  std::lock_guard<std::mutex> lock(mu);
  if (!p) return status();
  auto it = allocations.find(p);
  if (it == allocations.end()) return fail(cudaErrorInvalidValue);
  bytes_allocated -= it->second;
  allocations.erase(it);
  std::free(p);
  return status();
}

cudaError_t cudaMallocHost(void** p, size_t bytes) {
  *p = std::malloc(bytes ? bytes : 1);
  return *p ? cudaSuccess : fail(cudaErrorMemoryAllocation);
}
cudaError_t cudaFreeHost(void* p) {
  std::free(p);
  return cudaSuccess;
}

cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind) {
  wait_for_kernels();  // a kernel another host thread is running comes first (stream order is not modelled)
  std::lock_guard<std::mutex> lock(mu);
  if (status()) return status();
  if (bytes) std::memmove(dst, src, bytes);
  return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, cudaStream_t s) {
  {
    std::lock_guard<std::mutex> lock(mu);
    if (!stream_ok(s)) return fail(cudaErrorInvalidResourceHandle);
  }
  return cudaMemcpy(dst, src, bytes, kind);
}

cudaError_t cudaMemsetAsync(void* dst, int value, size_t bytes, cudaStream_t s) {
  std::lock_guard<std::mutex> lock(mu);
  if (status()) return status();
  if (!stream_ok(s)) return fail(cudaErrorInvalidResourceHandle);
  std::memset(dst, value, bytes);
  return cudaSuccess;
}

cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned flags) {
  return create_handle(live_streams, s, dit_emu_stream{flags});
}
cudaError_t cudaStreamCreate(cudaStream_t* s) { return cudaStreamCreateWithFlags(s, 0); }

cudaError_t cudaStreamDestroy(cudaStream_t s) { return destroy_handle(live_streams, s); }

cudaError_t cudaStreamSynchronize(cudaStream_t s) {
  wait_for_kernels();
  std::lock_guard<std::mutex> lock(mu);
  if (!stream_ok(s)) return fail(cudaErrorInvalidResourceHandle);
  return status();
}

cudaError_t cudaStreamWaitEvent(cudaStream_t s, cudaEvent_t e, unsigned) {
  std::lock_guard<std::mutex> lock(mu);
  if (!stream_ok(s) || !live_events.count(e)) return fail(cudaErrorInvalidResourceHandle);
  return status();
}

cudaError_t cudaEventCreateWithFlags(cudaEvent_t* e, unsigned flags) {
  return create_handle(live_events, e, dit_emu_event{flags, false, {}});
}
cudaError_t cudaEventCreate(cudaEvent_t* e) { return cudaEventCreateWithFlags(e, 0); }

cudaError_t cudaEventDestroy(cudaEvent_t e) { return destroy_handle(live_events, e); }

cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s) {
  std::lock_guard<std::mutex> lock(mu);
  if (status()) return status();
  if (!live_events.count(e) || !stream_ok(s)) return fail(cudaErrorInvalidResourceHandle);
  e->recorded = true;
  e->at = std::chrono::steady_clock::now();
  return cudaSuccess;
}

cudaError_t cudaEventQuery(cudaEvent_t e) {
  wait_for_kernels();
  std::lock_guard<std::mutex> lock(mu);
  if (!live_events.count(e)) return fail(cudaErrorInvalidResourceHandle);
  return status();  // the work before a record is done at the record
}

cudaError_t cudaEventSynchronize(cudaEvent_t e) { return cudaEventQuery(e); }

cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end) {
  std::lock_guard<std::mutex> lock(mu);
  if (status()) return status();
  if (!live_events.count(start) || !live_events.count(end)) return fail(cudaErrorInvalidResourceHandle);
  if ((start->flags | end->flags) & cudaEventDisableTiming) return fail(cudaErrorInvalidResourceHandle);
  if (!start->recorded || !end->recorded) return fail(cudaErrorInvalidResourceHandle);
  *ms = std::chrono::duration<float, std::milli>(end->at - start->at).count();
  return cudaSuccess;
}

cudaError_t cudaGetDriverEntryPointByVersion(const char* symbol, void** fn, unsigned, unsigned long long,
                                             cudaDriverEntryPointQueryResult* found) {
  const bool known = std::strcmp(symbol, "cuTensorMapEncodeTiled") == 0;  // the only one native/cuda asks for
  *fn = known ? tensor_map_encoder() : nullptr;
  if (found) *found = known ? cudaDriverEntryPointSuccess : cudaDriverEntryPointSymbolNotFound;
  return cudaSuccess;
}
