// The CUDA backend's stream, error checks, host <-> device copies and fences. One non-blocking
// stream on device 0 carries every op in launch order, so stream order is the only
// synchronisation the ops need; the host waits only in fences and reads (off the JS thread).
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

cudaStream_t stream() {
  static cudaStream_t s = [] {
    check(cudaSetDevice(0), "cudaSetDevice");
    cudaStream_t st;
    check(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking), "cudaStreamCreate");
    return st;
  }();
  return s;
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
  Event() {
    // blocking sync: a waiting libuv worker sleeps instead of spinning a core for the whole wait
    check(cudaEventCreateWithFlags(&e, cudaEventDisableTiming | cudaEventBlockingSync), "cudaEventCreate");
    cudaError_t err = cudaEventRecord(e, stream());
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
  auto done = std::make_shared<Event>();
  return [staging, done, bytes](const HostConsumer& consume) mutable {
    std::string err = done->wait();
    if (err.empty() && bytes) consume(staging->p);
    // released here, on the waiting worker (back to the pool; never a cudaFreeHost on the JS thread)
    staging.reset();
    done.reset();
    return err;
  };
}

std::function<std::string()> fence() {
  auto done = std::make_shared<Event>();
  return [done] { return done->wait(); };
}

void synchronize() {
  cudaError_t err = cudaStreamSynchronize(stream());
  if (err != cudaSuccess) throw std::runtime_error(error_text(err));
}

}  // namespace dit::cuda
