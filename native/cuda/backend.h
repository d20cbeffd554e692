// The CUDA backend as the N-API glue sees it: plain C++ (no CUDA headers), so the glue compiles
// in CPU-only builds too, where backend_none.cpp throws "CPU-only binary" from every entry.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "../common/op_params.h"

namespace dit::cuda {

// --- memory (stream-ordered caching allocator; nullptr when the device is out of memory)
void* device_alloc(size_t bytes, size_t* capacity);
void device_free(void* p, size_t capacity, size_t bytes);
struct DeviceMemoryStats {
  int64_t bytes_in_use, buffers, bytes_cached;
};
DeviceMemoryStats device_memory_stats();

// --- copies and ordering, all on the backend's stream
void upload(void* dst, const void* host, size_t bytes);          // host may be reused on return
void copy_device_to_device(void* dst, const void* src, size_t bytes);
// Starts a device -> host copy now (stream order); the returned function blocks until it is done
// (call it off the JS thread), hands the host copy to `consume` (valid during the call: convert or
// copy it there, no second staging buffer needed) and returns "" or the CUDA error text.
using HostConsumer = std::function<void(const void* host)>;
std::function<std::string(const HostConsumer& consume)> begin_download(const void* src, size_t bytes);
// A marker after everything launched so far; the function blocks until the GPU reaches it.
std::function<std::string()> fence();
// Blocks until the stream is idle (for cross-device copies); throws on error.
void synchronize();

// --- benchmark timing: an event recorded on the stream now (an id); the GPU milliseconds between
// two of them, waiting for the second and releasing both; a kernel that occupies the stream for
// `microseconds`, so the host can queue work ahead of a start event
int64_t timer_record();
double timer_elapsed_ms(int64_t start, int64_t end);
void busy_wait(double microseconds);

// --- ops (launch on the stream and return; throw std::runtime_error on launch errors)
DIT_OPS(DIT_DECLARE_OP)

// Head dims the attention kernel is compiled for (a sentence naming them when one is not).
bool attention_supports_head_dim(int64_t dh);
const char* attention_head_dims();

}  // namespace dit::cuda
