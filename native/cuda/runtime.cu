// The CUDA backend's streams, error checks, host <-> device copies and fences. Non-blocking
// streams on device 0: the default one (0) and one per model; each thread launches on its current
// stream, in order, so within a stream stream order is the only synchronisation the ops need.
// Across streams: a model's forward waits for the default stream at entry (wait_for_stream), the
// allocator defers reuse of blocks other streams used, and reads wait for every stream that used
// the buffer. The host waits only in fences and reads (off the JS thread).
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>

#include "backend.h"
#include "common.cuh"

namespace dit::cuda {

namespace {
std::mutex last_op_mu;
std::string last_op = "none";

std::string error_text(cudaError_t err) {
  std::lock_guard<std::mutex> lock(last_op_mu);
  return std::string(cudaGetErrorName(err)) + ": " + cudaGetErrorString(err) + " (last op launched: " + last_op + ")";
}
}  // namespace

void check(cudaError_t err, const char* what) {
  if (err == cudaSuccess) return;
  cudaGetLastError();  // clear a non-sticky error so the next call starts clean
  throw std::runtime_error(std::string(what) + ": " + cudaGetErrorName(err) + ": " + cudaGetErrorString(err));
}

void check_launch(const char* op) {
  {
    std::lock_guard<std::mutex> lock(last_op_mu);
    last_op = op;
  }
  check(cudaGetLastError(), op);
}

bool env_equals(const char* name, const char* value) {
  const char* env = std::getenv(name);
  return env && std::strcmp(env, value) == 0;
}

const DeviceInfo& current_device() {
  // stream() selects device 0; without a probed device the ops cannot run at all (the glue refuses
  // CUDA then), so the fallback only keeps this total
  static const DeviceInfo none = [] {
    DeviceInfo d;
    d.shared_per_block_optin = 48 * 1024;
    return d;
  }();
  const CudaInfo& info = cuda_info();
  return info.devices.empty() ? none : info.devices[0];
}

// --- streams: a registry of live streams by id (ids are never reused, so a stale id is refused
// rather than aliased), and the current one per thread, cached so a launch takes no lock.
namespace {
std::mutex streams_mu;
std::map<StreamId, cudaStream_t> streams;
StreamId next_stream = 1;
thread_local StreamId current_id = 0;
thread_local cudaStream_t current_handle = nullptr;

cudaStream_t new_stream() {
  cudaStream_t st;
  check(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking), "cudaStreamCreate");
  return st;
}

cudaStream_t default_stream() {
  static cudaStream_t s = [] {
    check(cudaSetDevice(0), "cudaSetDevice");
    cudaStream_t st = new_stream();
    std::lock_guard<std::mutex> lock(streams_mu);
    streams[0] = st;
    return st;
  }();
  return s;
}

}  // namespace

cudaStream_t stream() { return current_handle ? current_handle : default_stream(); }

cudaStream_t stream_of(StreamId id) {
  if (id == 0) return default_stream();
  std::lock_guard<std::mutex> lock(streams_mu);
  auto it = streams.find(id);
  return it == streams.end() ? nullptr : it->second;
}

StreamId create_stream() {
  // one shared stream on request: per-model streams off, for comparisons and debugging
  if (env_equals("DIT_CUDA_STREAMS", "shared")) return 0;
  default_stream();  // selects the device
  cudaStream_t st = new_stream();
  StreamId id;
  {
    std::lock_guard<std::mutex> lock(streams_mu);
    id = next_stream++;
    streams[id] = st;
  }
  stream_cache_add(id);  // outside streams_mu: the allocator takes its lock, then streams_mu
  return id;
}

void destroy_stream(StreamId id) {
  if (id == 0) return;
  cudaStream_t st = stream_of(id);
  if (!st) return;
  // Its blocks become stream 0's only once its work is done, so this waits (on the calling
  // thread: a model disposed with a forward still queued waits for that forward). A fault is
  // sticky and reported by the next call on any stream, so it is not thrown from a dispose.
  if (cudaStreamSynchronize(st) != cudaSuccess) cudaGetLastError();
  stream_cache_retire(id);
  {
    std::lock_guard<std::mutex> lock(streams_mu);
    streams.erase(id);
  }
  if (current_id == id) {
    current_id = 0;
    current_handle = nullptr;
  }
  cudaStreamDestroy(st);
}

StreamId set_current_stream(StreamId id) {
  cudaStream_t st = stream_of(id);
  if (!st) throw std::invalid_argument("CUDA stream " + std::to_string(id) + " does not exist (destroyed?)");
  const StreamId previous = current_id;
  current_id = id;
  current_handle = id == 0 ? nullptr : st;
  return previous;
}

StreamId current_stream_id() { return current_id; }

void wait_for_stream(StreamId on) {
  if (on == current_id) return;
  cudaStream_t other = stream_of(on);
  if (!other) return;  // destroyed: synchronised then
  // one event per thread, recorded again for every wait: cudaStreamWaitEvent takes the event's
  // state at the call, so the next record does not disturb a wait already queued
  thread_local cudaEvent_t marker = [] {
    cudaEvent_t e;
    check(cudaEventCreateWithFlags(&e, cudaEventDisableTiming), "cudaEventCreate");
    return e;
  }();
  check(cudaEventRecord(marker, other), "cudaEventRecord");
  check(cudaStreamWaitEvent(stream(), marker, 0), "cudaStreamWaitEvent");
}

void upload(void* dst, const void* host, size_t bytes) {
  if (bytes == 0) return;
  // pageable source: the runtime stages it before returning, so the caller may reuse it at once
  check(cudaMemcpyAsync(dst, host, bytes, cudaMemcpyHostToDevice, stream()), "upload");
}

void copy_device_to_device(void* dst, const void* src, size_t bytes) {
  if (bytes == 0) return;
  check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream()), "copy");
}

namespace {
struct Event {
  cudaEvent_t e = nullptr;
  explicit Event(cudaStream_t on) {
    // blocking sync: a waiting libuv worker sleeps instead of spinning a core for the whole wait
    check(cudaEventCreateWithFlags(&e, cudaEventDisableTiming | cudaEventBlockingSync), "cudaEventCreate");
    cudaError_t err = cudaEventRecord(e, on);
    if (err != cudaSuccess) {
      cudaEventDestroy(e);
      check(err, "cudaEventRecord");
    }
  }
  ~Event() { cudaEventDestroy(e); }
  std::string wait() const {
    cudaError_t err = cudaEventSynchronize(e);
    return err == cudaSuccess ? std::string() : error_text(err);
  }
};

// Pinned staging for downloads, reused: cudaMallocHost is slow, and cudaFreeHost waits for the
// whole device (a read would settle only after all later work), so a finished download's buffer
// goes back to a bounded pool instead.
class PinnedPool {
 public:
  void* take(size_t bytes, size_t* capacity) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = free_.lower_bound(bytes);
      if (it != free_.end() && it->first <= 2 * bytes + kGranule) {
        void* p = it->second;
        *capacity = it->first;
        cached_ -= it->first;
        free_.erase(it);
        return p;
      }
    }
    *capacity = (bytes + kGranule - 1) / kGranule * kGranule;
    void* p = nullptr;
    check(cudaMallocHost(&p, *capacity), "cudaMallocHost");
    return p;
  }
  void give(void* p, size_t capacity) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (cached_ + capacity <= kMaxCached) {
        free_.emplace(capacity, p);
        cached_ += capacity;
        return;
      }
    }
    cudaFreeHost(p);
  }

 private:
  static constexpr size_t kGranule = size_t(64) << 10, kMaxCached = size_t(256) << 20;
  std::mutex mu_;
  std::multimap<size_t, void*> free_;
  size_t cached_ = 0;
};

PinnedPool& pinned_pool() {
  static PinnedPool* pool = new PinnedPool();  // never destroyed: no CUDA calls at process exit
  return *pool;
}

struct Pinned {
  void* p = nullptr;
  size_t capacity = 0;
  explicit Pinned(size_t bytes) { p = pinned_pool().take(bytes ? bytes : 1, &capacity); }
  ~Pinned() { pinned_pool().give(p, capacity); }
};
}  // namespace

std::function<std::string(const HostConsumer&)> begin_download(const void* src, size_t bytes) {
  auto staging = std::make_shared<Pinned>(bytes);
  if (bytes) check(cudaMemcpyAsync(staging->p, src, bytes, cudaMemcpyDeviceToHost, stream()), "download");
  auto done = std::make_shared<Event>(stream());
  return [staging, done, bytes](const HostConsumer& consume) mutable {
    std::string err = done->wait();
    if (err.empty() && bytes) consume(staging->p);
    // released here, on the waiting worker (back to the pool; never a cudaFreeHost on the JS thread)
    staging.reset();
    done.reset();
    return err;
  };
}

std::function<std::string()> fence_stream(StreamId id) {
  cudaStream_t st = stream_of(id);
  if (!st) return [] { return std::string(); };
  auto done = std::make_shared<Event>(st);
  return [done] { return done->wait(); };
}

std::function<std::string()> fence_all() {
  default_stream();
  auto events = std::make_shared<std::vector<std::unique_ptr<Event>>>();
  {
    // recorded under the lock: another thread's destroy_stream cannot destroy one meanwhile
    std::lock_guard<std::mutex> lock(streams_mu);
    for (const auto& [id, st] : streams) events->push_back(std::make_unique<Event>(st));
  }
  return [events] {
    for (const auto& e : *events) {
      std::string err = e->wait();
      if (!err.empty()) return err;
    }
    return std::string();
  };
}

void synchronize() {
  cudaError_t err = cudaStreamSynchronize(stream());
  if (err != cudaSuccess) throw std::runtime_error(error_text(err));
}

}  // namespace dit::cuda
