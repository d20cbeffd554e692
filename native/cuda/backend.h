// The CUDA backend as the N-API glue sees it: plain C++ (no CUDA headers), so the glue compiles
// in CPU-only builds too, where backend_none.cpp throws "CPU-only binary" from every entry.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "../common/op_params.h"
#include "../common/stream_block_cache.h"

namespace dit::cuda {

// --- streams. Stream 0 is the default stream; a model has a stream of its own. Each thread has a
// current stream (0 unless set) that every allocation, copy, fence, timer and op below uses.
StreamId create_stream();                   // a new non-blocking stream (DIT_CUDA_STREAMS=shared: 0)
void destroy_stream(StreamId s);            // waits for its work; its cached blocks go to stream 0
StreamId set_current_stream(StreamId s);    // returns the previous one; throws for an unknown id
StreamId current_stream_id();
// The current stream waits for the work queued so far on stream `on` (nothing when `on` is the
// current stream or has been destroyed: its work is done).
void wait_for_stream(StreamId on);

// --- memory (caching allocator with a pool per stream; nullptr when the device is out of memory).
// A block is allocated for the current stream (its owner); `used` lists the other streams that
// have used it, whose work must finish before it is reused (common/stream_block_cache.h).
void* device_alloc(size_t bytes, size_t* capacity);
void device_free(void* p, size_t capacity, size_t bytes, StreamId owner, const std::vector<StreamId>& used);
struct DeviceMemoryStats {
  int64_t bytes_in_use, buffers, bytes_cached;
};
DeviceMemoryStats device_memory_stats();

// --- copies and ordering, on the current stream
void upload(void* dst, const void* host, size_t bytes);          // host may be reused on return
void copy_device_to_device(void* dst, const void* src, size_t bytes);
// Starts a device -> host copy now (stream order); the returned function blocks until it is done
// (call it off the JS thread), hands the host copy to `consume` (valid during the call: convert or
// copy it there, no second staging buffer needed) and returns "" or the CUDA error text.
using HostConsumer = std::function<void(const void* host)>;
std::function<std::string(const HostConsumer& consume)> begin_download(const void* src, size_t bytes);
// A marker after everything launched so far on stream `id` (nothing to wait for when it was
// destroyed: synchronised then), or on every stream (fence_all); the function blocks until the GPU
// reaches it.
std::function<std::string()> fence_stream(StreamId id);
std::function<std::string()> fence_all();
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
