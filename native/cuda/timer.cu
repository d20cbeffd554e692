// Benchmark timing on the GPU: CUDA events recorded on the backend's stream, and a kernel that
// keeps the GPU busy for a while so the host can queue a whole sample behind it; the events then
// time the GPU's work alone, not the host's launch rate (what nvbench calls a blocking kernel).
#include <mutex>
#include <unordered_map>

#include "backend.h"
#include "common.cuh"

namespace dit::cuda {

namespace {
std::mutex timers_mu;
std::unordered_map<int64_t, cudaEvent_t> timers;
int64_t next_timer = 1;

__global__ void busy_wait_kernel(unsigned long long ns) {
  unsigned long long start, now;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(start));
  do {
    __nanosleep(2000);
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(now));
  } while (now - start < ns);
}

cudaEvent_t take(int64_t id) {
  std::lock_guard<std::mutex> lock(timers_mu);
  auto it = timers.find(id);
  if (it == timers.end()) throw std::invalid_argument("timer " + std::to_string(id) + " is not recorded (or already read)");
  cudaEvent_t e = it->second;
  timers.erase(it);
  return e;
}
}  // namespace

int64_t timer_record() {
  cudaEvent_t e;
  check(cudaEventCreate(&e), "cudaEventCreate");
  const cudaError_t err = cudaEventRecord(e, stream());
  if (err != cudaSuccess) {
    cudaEventDestroy(e);
    check(err, "cudaEventRecord");
  }
  std::lock_guard<std::mutex> lock(timers_mu);
  timers[next_timer] = e;
  return next_timer++;
}

double timer_elapsed_ms(int64_t start, int64_t end) {
  cudaEvent_t a = take(start), b = nullptr;
  try {
    b = take(end);
  } catch (...) {
    cudaEventDestroy(a);
    throw;
  }
  float ms = 0.0f;
  cudaError_t err = cudaEventSynchronize(b);
  if (err == cudaSuccess) err = cudaEventElapsedTime(&ms, a, b);
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  check(err, "timer");
  return double(ms);
}

void busy_wait(double microseconds) {
  busy_wait_kernel<<<1, 1, 0, stream()>>>(static_cast<unsigned long long>(microseconds * 1000.0));
  check_launch("busy wait");
}

}  // namespace dit::cuda
