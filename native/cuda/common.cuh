// Shared by the CUDA op files: error checks, the stream, element loads/stores in f32, and the
// one dtype dispatch of the CUDA backend (f32, f16, bf16 storage; f32 math).
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "../common/dtype.h"
#include "../common/op_params.h"
#include "../common/stream_block_cache.h"
#include "device.h"

namespace dit::cuda {

// Throws std::runtime_error("<what>: <cudaErrorName>: <message>") on failure.
void check(cudaError_t err, const char* what);
// After a kernel launch: configuration errors now, and remembers the op for asynchronous faults.
void check_launch(const char* op);

// This thread's current stream (runtime.cu); the stream of an id (nullptr when it is not live).
cudaStream_t stream();
cudaStream_t stream_of(StreamId id);
// The allocator's side of creating and destroying a stream (allocator.cu).
void stream_cache_add(StreamId id);
void stream_cache_retire(StreamId id);

// True when environment variable `name` is set to `value` (DIT_CUDA_STREAMS, DIT_CUDA_GEMM_TILE;
// the kernel switches are kernel_choice.h's).
bool env_equals(const char* name, const char* value);

// The device the stream runs on, as the probe (device.cu) saw it: multiprocessors, compute
// capability, the most dynamic shared memory one block may opt in to.
const DeviceInfo& current_device();
inline int max_shared_optin() { return current_device().shared_per_block_optin; }

// Whether the device runs the Hopper (sm_90a) kernels and can give one block `shared_bytes` of
// shared memory: compute capability 9.0 exactly (sm_90a code runs nowhere else).
inline bool hopper_fits(size_t shared_bytes) {
  const DeviceInfo& d = current_device();
  return d.major == 9 && d.minor == 0 && shared_bytes <= size_t(max_shared_optin());
}

// Lets `kernel` launch with up to `bytes` of dynamic shared memory (past the default 48 KiB), once
// per kernel: the kernel is the template argument, so each instantiation keeps its own flag.
template <auto kernel>
void allow_dynamic_shared(size_t bytes, const char* what) {
  static const bool configured = (check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes)), what), true);
  (void)configured;
}

// True when rows of T at `base` can be read 16 bytes at a time: base 16-byte aligned and every
// given count (row lengths and strides, in elements) a whole number of 16-byte vectors.
template <typename T, typename... Counts>
__host__ __device__ inline bool rows_are_16_byte_aligned(const void* base, Counts... counts) {
  return reinterpret_cast<uintptr_t>(base) % 16 == 0 && (((int64_t(counts) * int64_t(sizeof(T))) % 16 == 0) && ...);
}

template <typename T> __device__ __forceinline__ float to_f32(T v);
template <> __device__ __forceinline__ float to_f32<float>(float v) { return v; }
template <> __device__ __forceinline__ float to_f32<__half>(__half v) { return __half2float(v); }
template <> __device__ __forceinline__ float to_f32<__nv_bfloat16>(__nv_bfloat16 v) { return __bfloat162float(v); }

template <typename T> __device__ __forceinline__ T from_f32(float v);
template <> __device__ __forceinline__ float from_f32<float>(float v) { return v; }
template <> __device__ __forceinline__ __half from_f32<__half>(float v) { return __float2half_rn(v); }
template <> __device__ __forceinline__ __nv_bfloat16 from_f32<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }

// kFast: __expf and __fdividef (a few f32 ulp) instead of the exact forms, for results stored in
// 16 bits, where that error is far below the storage rounding and the exact forms' code is not
// (the tensor-core GEMMs unroll this over every accumulator: linear_epilogue.cuh).
template <bool kFast = false>
__device__ __forceinline__ float activate(Activation act, float x) {
  // x * sigmoid(z) = x / (1 + e^-z)
  auto times_sigmoid = [](float x, float z) { return kFast ? __fdividef(x, 1.0f + __expf(-z)) : x / (1.0f + expf(-z)); };
  switch (act) {
    // 0.5 x (1 + tanh(u)) = x * sigmoid(2u): no cancellation for negative x (as the CPU kernels)
    case Activation::GeluTanh: return times_sigmoid(x, x * (1.5957691216057308f + 0.0713548162726f * x * x));
    case Activation::Silu: return times_sigmoid(x, x);
    case Activation::Gelu: return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
    default: return x;
  }
}

__device__ __forceinline__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ float warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Calls fn(T{}) with T the CUDA storage type of a float dtype.
template <typename Fn>
void dispatch(DType d, Fn&& fn) {
  switch (d) {
    case DType::F32: fn(float{}); return;
    case DType::F16: fn(__half{}); return;
    case DType::BF16: fn(__nv_bfloat16{}); return;
    default: throw std::invalid_argument(std::string("CUDA ops take f32, f16 or bf16, not ") + dtype_name(d));
  }
}

inline unsigned grid_for(int64_t n, int threads) {
  int64_t g = (n + threads - 1) / threads;
  return unsigned(g < 1 ? 1 : (g > 2147483647LL ? 2147483647LL : g));  // gridDim.x's limit
}

// Scratch device memory from the caching allocator, released in stream order when it goes.
class DeviceScratch {
 public:
  explicit DeviceScratch(size_t bytes);
  ~DeviceScratch();
  DeviceScratch(const DeviceScratch&) = delete;
  DeviceScratch& operator=(const DeviceScratch&) = delete;
  void* get() const { return ptr_; }

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0, capacity_ = 0;
  StreamId owner_ = 0;
};

}  // namespace dit::cuda
