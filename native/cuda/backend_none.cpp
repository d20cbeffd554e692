// Stand-in for the CUDA backend in a CPU-only build: every entry explains why it cannot run.
#include <stdexcept>

#include "backend.h"

namespace dit::cuda {

namespace {
[[noreturn]] void unavailable() {
  throw std::runtime_error("this build of dit-native was compiled without CUDA (nvcc was not found at build time)");
}
}  // namespace

StreamId create_stream() { unavailable(); }
void destroy_stream(StreamId) {}
StreamId set_current_stream(StreamId s) {
  if (s != 0) unavailable();
  return 0;
}
StreamId current_stream_id() { return 0; }
void wait_for_stream(StreamId) {}
void* device_alloc(size_t, size_t*) { unavailable(); }
void device_free(void*, size_t, size_t, StreamId, const std::vector<StreamId>&) {}
DeviceMemoryStats device_memory_stats() { return {0, 0, 0}; }
void upload(void*, const void*, size_t) { unavailable(); }
void copy_device_to_device(void*, const void*, size_t) { unavailable(); }
std::function<std::string(const HostConsumer&)> begin_download(const void*, size_t) { unavailable(); }
std::function<std::string()> fence_all() { unavailable(); }
std::function<std::string()> fence_stream(StreamId) { unavailable(); }
void synchronize() {}
int64_t timer_record() { unavailable(); }
double timer_elapsed_ms(int64_t, int64_t) { unavailable(); }
void busy_wait(double) { unavailable(); }
#define DIT_UNAVAILABLE_OP(name, Params) \
  void name(const Params&) { unavailable(); }
DIT_OPS(DIT_UNAVAILABLE_OP)
bool attention_supports_head_dim(int64_t) { return false; }
const char* attention_head_dims() { return "none (CPU-only build)"; }

}  // namespace dit::cuda
