// The CUDA emulator's stand-in for <cuda_runtime.h>: enough of the CUDA C++ device language and of
// the runtime API for native/cuda to compile as plain C++ and run on the CPU (native/test/cuda_emu,
// see emu.cpp for what is checked and what is not). Never part of the product: only the native
// test target dit_cuda_check_emu puts this directory on its include path.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <tuple>
#include <type_traits>
#include <utility>

#include "../../../common/dtype.h"

// ---- the language: qualifiers. Blocks run one at a time, so a kernel's __shared__ variables can
// be static locals.
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__
#define __launch_bounds__(...)
#define __grid_constant__
#define __align__(n) __attribute__((aligned(n)))
#define __shared__ static

struct uint3 { unsigned x, y, z; };
struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
struct alignas(8) float2 { float x, y; };
struct alignas(16) float4 { float x, y, z, w; };
struct alignas(8) uint2 { unsigned x, y; };
struct alignas(16) uint4 { unsigned x, y, z, w; };
struct alignas(8) int2 { int x, y; };
struct alignas(16) int4 { int x, y, z, w; };
inline float2 make_float2(float x, float y) { return {x, y}; }
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }
inline uint4 make_uint4(unsigned x, unsigned y, unsigned z, unsigned w) { return {x, y, z, w}; }

// The running thread's coordinates (set by the emulator's scheduler before it resumes a thread).
extern uint3 threadIdx, blockIdx;
extern dim3 blockDim, gridDim;
constexpr int warpSize = 32;

// ---- f16 / bf16 storage types and their conversions (round to nearest even, as the hardware's _rn)
struct __half { uint16_t x; };
struct __nv_bfloat16 { uint16_t x; };
struct alignas(4) __half2 { __half x, y; };
struct alignas(4) __nv_bfloat162 { __nv_bfloat16 x, y; };
inline float __half2float(__half h) { return dit::to_float(dit::f16{h.x}); }
inline __half __float2half_rn(float f) { return __half{dit::f16_from(f).bits}; }
inline float __bfloat162float(__nv_bfloat16 h) { return dit::to_float(dit::bf16{h.x}); }
inline __nv_bfloat16 __float2bfloat16_rn(float f) { return __nv_bfloat16{dit::bf16_from(f).bits}; }
inline __half2 __floats2half2_rn(float lo, float hi) { return {__float2half_rn(lo), __float2half_rn(hi)}; }
inline __nv_bfloat162 __floats2bfloat162_rn(float lo, float hi) { return {__float2bfloat16_rn(lo), __float2bfloat16_rn(hi)}; }

// ---- device math the C library lacks, and CUDA's integer min / max
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline float __expf(float x) { return std::exp(x); }
inline float __fdividef(float a, float b) { return a / b; }
inline float __saturatef(float x) { return x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : x); }
template <typename A, typename B>
inline auto min(A a, B b) -> std::enable_if_t<std::is_integral_v<A> && std::is_integral_v<B>, std::common_type_t<A, B>> {
  return a < b ? a : b;
}
template <typename A, typename B>
inline auto max(A a, B b) -> std::enable_if_t<std::is_integral_v<A> && std::is_integral_v<B>, std::common_type_t<A, B>> {
  return a < b ? b : a;
}

// ---- the runtime API (the subset native/cuda calls)
enum cudaError_t {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInvalidConfiguration = 9,
  cudaErrorInsufficientDriver = 35,
  cudaErrorNoDevice = 100,
  cudaErrorInvalidResourceHandle = 400,
  cudaErrorNotReady = 600,
  cudaErrorIllegalAddress = 700,
  cudaErrorLaunchFailure = 719,
};
typedef struct dit_emu_stream* cudaStream_t;
typedef struct dit_emu_event* cudaEvent_t;
enum cudaMemcpyKind { cudaMemcpyHostToHost, cudaMemcpyHostToDevice, cudaMemcpyDeviceToHost, cudaMemcpyDeviceToDevice, cudaMemcpyDefault };
enum cudaFuncAttribute { cudaFuncAttributeMaxDynamicSharedMemorySize = 8 };
enum cudaDriverEntryPointQueryResult { cudaDriverEntryPointSuccess = 0, cudaDriverEntryPointSymbolNotFound = 1 };
constexpr unsigned cudaStreamNonBlocking = 1, cudaEventDisableTiming = 2, cudaEventBlockingSync = 1;
constexpr unsigned long long cudaEnableDefault = 0;

struct cudaDeviceProp {
  char name[256];
  size_t totalGlobalMem;
  size_t sharedMemPerBlockOptin;
  int major, minor, multiProcessorCount;
  int maxGridSize[3];
};

const char* cudaGetErrorName(cudaError_t err);
const char* cudaGetErrorString(cudaError_t err);
cudaError_t cudaGetLastError();
cudaError_t cudaPeekAtLastError();
cudaError_t cudaRuntimeGetVersion(int* v);
cudaError_t cudaDriverGetVersion(int* v);
cudaError_t cudaGetDeviceCount(int* n);
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device);
cudaError_t cudaSetDevice(int device);
cudaError_t cudaDeviceSynchronize();
cudaError_t cudaMalloc(void** p, size_t bytes);
cudaError_t cudaFree(void* p);
cudaError_t cudaMallocHost(void** p, size_t bytes);
cudaError_t cudaFreeHost(void* p);
cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind);
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, cudaStream_t s = nullptr);
cudaError_t cudaMemsetAsync(void* dst, int value, size_t bytes, cudaStream_t s = nullptr);
cudaError_t cudaStreamCreate(cudaStream_t* s);
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned flags);
cudaError_t cudaStreamDestroy(cudaStream_t s);
cudaError_t cudaStreamSynchronize(cudaStream_t s);
cudaError_t cudaStreamWaitEvent(cudaStream_t s, cudaEvent_t e, unsigned flags = 0);
cudaError_t cudaEventCreate(cudaEvent_t* e);
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* e, unsigned flags);
cudaError_t cudaEventDestroy(cudaEvent_t e);
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s = nullptr);
cudaError_t cudaEventQuery(cudaEvent_t e);
cudaError_t cudaEventSynchronize(cudaEvent_t e);
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end);
cudaError_t cudaGetDriverEntryPointByVersion(const char* symbol, void** fn, unsigned version, unsigned long long flags,
                                             cudaDriverEntryPointQueryResult* status);

namespace dit_emu {
// The dynamic shared memory of the running block, poisoned with 0xff bytes (NaN in every float
// type) before each block so that a read of an element never written shows.
void* dynamic_shared();
// The nanoseconds of a steady clock (the busy-wait kernel's %globaltimer).
unsigned long long globaltimer();

// A kernel launch: `kernel<<<grid, block, shared, stream>>>(args)` is translated to
// `::dit_emu::Launch(grid, block, shared, stream).with(kernel)(args)` (translate.js).
cudaError_t register_shared_limit(const void* kernel, int bytes);
void run_grid(const void* kernel, dim3 grid, dim3 block, size_t shared, cudaStream_t stream, void (*body)(void*), void* state);

template <typename... P>
struct Launcher {
  void (*kernel)(P...);
  dim3 grid, block;
  size_t shared;
  cudaStream_t stream;
  template <typename... A>
  void operator()(A&&... args) const {
    std::tuple<std::decay_t<P>...> params(std::forward<A>(args)...);  // copied at the launch, as CUDA does
    struct State {
      void (*kernel)(P...);
      std::tuple<std::decay_t<P>...>* params;
    } state{kernel, &params};
    run_grid(reinterpret_cast<const void*>(kernel), grid, block, shared, stream,
             [](void* s) {
               auto* st = static_cast<State*>(s);
               std::apply(st->kernel, *st->params);
             },
             &state);
  }
};
struct Launch {
  dim3 grid, block;
  size_t shared;
  cudaStream_t stream;
  Launch(dim3 g, dim3 b, size_t shared_bytes = 0, cudaStream_t s = nullptr) : grid(g), block(b), shared(shared_bytes), stream(s) {}
  template <typename... P>
  Launcher<P...> with(void (*kernel)(P...)) const {
    return {kernel, grid, block, shared, stream};
  }
};

// ---- warp and block collectives (every lane of a warp must take part: full masks only)
void syncthreads();
void syncwarp();
[[noreturn]] void trap();
void nanosleep_yield();
uint32_t shfl32(uint32_t value, int src_lane, int width, bool xor_mode);
template <typename T>
T shfl(T value, int lane, int width, bool xor_mode) {
  static_assert(sizeof(T) == 4, "32-bit shuffles only");
  uint32_t bits;
  std::memcpy(&bits, &value, 4);
  bits = shfl32(bits, lane, width, xor_mode);
  std::memcpy(&value, &bits, 4);
  return value;
}
void check_full_mask(unsigned mask);
}  // namespace dit_emu

template <typename F>
cudaError_t cudaFuncSetAttribute(F* kernel, cudaFuncAttribute attr, int value) {
  if (attr != cudaFuncAttributeMaxDynamicSharedMemorySize) return cudaErrorInvalidValue;
  return dit_emu::register_shared_limit(reinterpret_cast<const void*>(kernel), value);
}

inline void __syncthreads() { dit_emu::syncthreads(); }
inline void __syncwarp(unsigned mask = 0xffffffffu) {
  dit_emu::check_full_mask(mask);
  dit_emu::syncwarp();
}
[[noreturn]] inline void __trap() { dit_emu::trap(); }
// the read-only data path's load: a plain load here
template <typename T>
inline T __ldg(const T* p) {
  return *p;
}
inline void __nanosleep(unsigned) { dit_emu::nanosleep_yield(); }
template <typename T>
inline T __shfl_sync(unsigned mask, T v, int src, int width = 32) {
  dit_emu::check_full_mask(mask);
  return dit_emu::shfl(v, src, width, false);
}
template <typename T>
inline T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = 32) {
  dit_emu::check_full_mask(mask);
  return dit_emu::shfl(v, lane_mask, width, true);
}
