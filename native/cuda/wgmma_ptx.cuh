// The Hopper instructions wgmma.cuh builds on, as inline PTX (sm_90a): wgmma m64nNk16 with f32
// accumulators (A from shared memory or from registers), its fences and commit / wait groups,
// mbarriers, TMA 2-D tile loads and stores with their bulk groups, and the warpgroup's named
// barrier. The CUDA emulator (native/test/cuda_emu) has its own version
// of this file, with the same functions written out in C++.
#pragma once
#include <type_traits>

#include "mma.cuh"

namespace dit::cuda::wgmma {

#ifdef DIT_WGMMA_AVAILABLE
// accumulator operand lists ("+f"(d[0]), ...) and register name lists ("{%0, ...}") by count
#define DIT_WGMMA_D4(i) "+f"(d[i]), "+f"(d[i + 1]), "+f"(d[i + 2]), "+f"(d[i + 3])
#define DIT_WGMMA_D32 DIT_WGMMA_D4(0), DIT_WGMMA_D4(4), DIT_WGMMA_D4(8), DIT_WGMMA_D4(12), DIT_WGMMA_D4(16), DIT_WGMMA_D4(20), DIT_WGMMA_D4(24), DIT_WGMMA_D4(28)
#define DIT_WGMMA_D36 DIT_WGMMA_D4(0), DIT_WGMMA_D4(4), DIT_WGMMA_D4(8), DIT_WGMMA_D4(12), DIT_WGMMA_D4(16), DIT_WGMMA_D4(20), DIT_WGMMA_D4(24), DIT_WGMMA_D4(28), DIT_WGMMA_D4(32)
#define DIT_WGMMA_D40 DIT_WGMMA_D4(0), DIT_WGMMA_D4(4), DIT_WGMMA_D4(8), DIT_WGMMA_D4(12), DIT_WGMMA_D4(16), DIT_WGMMA_D4(20), DIT_WGMMA_D4(24), DIT_WGMMA_D4(28), DIT_WGMMA_D4(32), DIT_WGMMA_D4(36)
#define DIT_WGMMA_D48 DIT_WGMMA_D4(0), DIT_WGMMA_D4(4), DIT_WGMMA_D4(8), DIT_WGMMA_D4(12), DIT_WGMMA_D4(16), DIT_WGMMA_D4(20), DIT_WGMMA_D4(24), DIT_WGMMA_D4(28), DIT_WGMMA_D4(32), DIT_WGMMA_D4(36), DIT_WGMMA_D4(40), DIT_WGMMA_D4(44)
#define DIT_WGMMA_D64 DIT_WGMMA_D4(0), DIT_WGMMA_D4(4), DIT_WGMMA_D4(8), DIT_WGMMA_D4(12), DIT_WGMMA_D4(16), DIT_WGMMA_D4(20), DIT_WGMMA_D4(24), DIT_WGMMA_D4(28), DIT_WGMMA_D4(32), DIT_WGMMA_D4(36), DIT_WGMMA_D4(40), DIT_WGMMA_D4(44), DIT_WGMMA_D4(48), DIT_WGMMA_D4(52), DIT_WGMMA_D4(56), DIT_WGMMA_D4(60)
#define DIT_WGMMA_D96 DIT_WGMMA_D4(0), DIT_WGMMA_D4(4), DIT_WGMMA_D4(8), DIT_WGMMA_D4(12), DIT_WGMMA_D4(16), DIT_WGMMA_D4(20), DIT_WGMMA_D4(24), DIT_WGMMA_D4(28), DIT_WGMMA_D4(32), DIT_WGMMA_D4(36), DIT_WGMMA_D4(40), DIT_WGMMA_D4(44), DIT_WGMMA_D4(48), DIT_WGMMA_D4(52), DIT_WGMMA_D4(56), DIT_WGMMA_D4(60), DIT_WGMMA_D4(64), DIT_WGMMA_D4(68), DIT_WGMMA_D4(72), DIT_WGMMA_D4(76), DIT_WGMMA_D4(80), DIT_WGMMA_D4(84), DIT_WGMMA_D4(88), DIT_WGMMA_D4(92)
#define DIT_WGMMA_REGS32 "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}"
#define DIT_WGMMA_REGS36 "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35}"
#define DIT_WGMMA_REGS40 "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39}"
#define DIT_WGMMA_REGS48 "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47}"
#define DIT_WGMMA_REGS64 "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}"
#define DIT_WGMMA_REGS96 "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63, %64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79, %80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95}"
// "{ .reg .pred p; setp.ne.b32 p, <scale-d>, 0; wgmma ... }": D = A B + (scale-d ? D : 0), no
// negation. SS: A and B from shared memory, both K-major. RS: A from registers (4 x b32 per
// thread, mma.sync's A fragment layout per warp), B from shared memory MN-major (trans-b = 1).
#define DIT_WGMMA_SS(shape, type, regs, a, b, scale_d)                                                      \
  "{\n.reg .pred p;\nsetp.ne.b32 p, %" scale_d ", 0;\nwgmma.mma_async.sync.aligned." shape ".f32." type "." type \
  " " regs ", %" a ", %" b ", p, 1, 1, 0, 0;\n}\n"
#define DIT_WGMMA_RS(shape, type, regs, a0, a1, a2, a3, b, scale_d)                                           \
  "{\n.reg .pred p;\nsetp.ne.b32 p, %" scale_d ", 0;\nwgmma.mma_async.sync.aligned." shape ".f32." type "." type \
  " " regs ", {%" a0 ", %" a1 ", %" a2 ", %" a3 "}, %" b ", p, 1, 1, 1;\n}\n"

// One wgmma shape in both element types (the PTX names the type in the instruction; `f16` is the
// caller's constexpr bool). D: the accumulator operand list macro of that shape.
#define DIT_WGMMA_SS_BOTH(shape, regs, a, b, scale_d, D)                                                   \
  if constexpr (f16) {                                                                                    \
    asm volatile(DIT_WGMMA_SS(shape, "f16", regs, a, b, scale_d) : D : "l"(desc_a), "l"(desc_b), "r"(scale)); \
  } else {                                                                                                \
    asm volatile(DIT_WGMMA_SS(shape, "bf16", regs, a, b, scale_d) : D : "l"(desc_a), "l"(desc_b), "r"(scale)); \
  }
#define DIT_WGMMA_RS_BOTH(shape, regs, a0, a1, a2, a3, b, scale_d, D)                                        \
  if constexpr (f16) {                                                                                      \
    asm volatile(DIT_WGMMA_RS(shape, "f16", regs, a0, a1, a2, a3, b, scale_d)                               \
                 : D : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc_b), "r"(1));                    \
  } else {                                                                                                  \
    asm volatile(DIT_WGMMA_RS(shape, "bf16", regs, a0, a1, a2, a3, b, scale_d)                              \
                 : D : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc_b), "r"(1));                    \
  }

// d (64 x N, this warpgroup's accumulators) += A (64 x 16) * B (N x 16)^T, both from shared memory;
// with accumulate false, d = A B: d's old values are not read, so nothing has to zero them (an
// ordinary write to a wgmma's registers while another wgmma is in flight makes ptxas serialise
// every wgmma of the kernel: C7513)
template <int N, typename T>
__device__ __forceinline__ void mma_async(float (&d)[N / 2], uint64_t desc_a, uint64_t desc_b, bool accumulate = true) {
  static_assert(N == 64 || N == 128 || N == 192, "instantiated for N = 64, 128, 192");
  constexpr bool f16 = std::is_same_v<T, __half>;
  const uint32_t scale = accumulate ? 1u : 0u;
  if constexpr (N == 64) {
    DIT_WGMMA_SS_BOTH("m64n64k16", DIT_WGMMA_REGS32, "32", "33", "34", DIT_WGMMA_D32)
  } else if constexpr (N == 128) {
    DIT_WGMMA_SS_BOTH("m64n128k16", DIT_WGMMA_REGS64, "64", "65", "66", DIT_WGMMA_D64)
  } else {
    DIT_WGMMA_SS_BOTH("m64n192k16", DIT_WGMMA_REGS96, "96", "97", "98", DIT_WGMMA_D96)
  }
}

// d (64 x N) += A (64 x 16, registers) * B (16 x N, shared memory, N contiguous)
template <int N, typename T>
__device__ __forceinline__ void mma_async_rs(float (&d)[N / 2], const uint32_t (&a)[4], uint64_t desc_b) {
  static_assert(N == 64 || N == 72 || N == 80 || N == 96 || N == 128, "instantiated for N = 64, 72, 80, 96, 128");
  constexpr bool f16 = std::is_same_v<T, __half>;
  if constexpr (N == 64) {
    DIT_WGMMA_RS_BOTH("m64n64k16", DIT_WGMMA_REGS32, "32", "33", "34", "35", "36", "37", DIT_WGMMA_D32)
  } else if constexpr (N == 72) {
    DIT_WGMMA_RS_BOTH("m64n72k16", DIT_WGMMA_REGS36, "36", "37", "38", "39", "40", "41", DIT_WGMMA_D36)
  } else if constexpr (N == 80) {
    DIT_WGMMA_RS_BOTH("m64n80k16", DIT_WGMMA_REGS40, "40", "41", "42", "43", "44", "45", DIT_WGMMA_D40)
  } else if constexpr (N == 96) {
    DIT_WGMMA_RS_BOTH("m64n96k16", DIT_WGMMA_REGS48, "48", "49", "50", "51", "52", "53", DIT_WGMMA_D48)
  } else {
    DIT_WGMMA_RS_BOTH("m64n128k16", DIT_WGMMA_REGS64, "64", "65", "66", "67", "68", "69", DIT_WGMMA_D64)
  }
}

__device__ __forceinline__ void fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
// Pins registers a wgmma reads or writes (accumulators, A fragments) in program order: called
// before fence() and after wait(), so the compiler moves no ordinary access to them (zeroing,
// rescaling, packing) past the fence or above the wait, which PTX forbids (CUTLASS's
// warpgroup_fence_operand).
template <int N>
__device__ __forceinline__ void fence_operands(float (&r)[N]) {
#pragma unroll
  for (int i = 0; i < N; i++) asm volatile("" : "+f"(r[i])::"memory");
}
template <int N>
__device__ __forceinline__ void fence_operands(uint32_t (&r)[N]) {
#pragma unroll
  for (int i = 0; i < N; i++) asm volatile("" : "+r"(r[i])::"memory");
}
// Ends the basic block once `non_negative` (a value the code before computes last) is known. ptxas
// schedules a wait or barrier as early as its own operands allow, above arithmetic it does not
// depend on: it moved the attention's wgmma.wait_group 0, cp.async.wait_group and bar.sync above
// the whole softmax they follow in the source, so the softmax never ran under P V (SASS,
// 2026-11-27). It does not move them across a block boundary: a warp-uniform branch (a vote, so
// ptxas sees no divergent path and injects no wait) on the value, never taken for a value that is
// not negative; its body is a real instruction that touches no wgmma register.
__device__ __forceinline__ void schedule_after(float non_negative) {
  if (__any_sync(0xffffffffu, non_negative < 0.0f)) asm volatile("nanosleep.u32 1;\n");
}
__device__ __forceinline__ void commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
template <int Pending>
__device__ __forceinline__ void wait() {
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(Pending) : "memory");
}
// Warp specialisation's register split: a warpgroup gives registers back to the SM's pool (dec) or
// takes them from it (inc, waiting until the pool has them). ptxas allocates the code after it
// within the new count.
template <uint32_t kRegisters>
__device__ __forceinline__ void release_registers() {
  asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(kRegisters));
}
template <uint32_t kRegisters>
__device__ __forceinline__ void claim_registers() {
  asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(kRegisters));
}
// ordinary shared-memory writes (cp.async) made visible to the tensor cores' async-proxy reads
__device__ __forceinline__ void fence_async_shared() { asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory"); }

// --- mbarriers (shared memory, one 64-bit word each) and TMA 2-D tile loads completing on them
__device__ __forceinline__ void barrier_init(uint64_t* bar, uint32_t arrivals) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(mma::shared_address(bar)), "r"(arrivals) : "memory");
}
// the initialised barriers visible to the copy engine (after this, a __syncthreads for the threads)
__device__ __forceinline__ void barrier_init_fence() { asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory"); }
__device__ __forceinline__ void barrier_arrive(uint64_t* bar) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(mma::shared_address(bar)) : "memory");
}
// one arrival that also announces `bytes` of copies to complete before the phase does
__device__ __forceinline__ void barrier_arrive_expect_bytes(uint64_t* bar, uint32_t bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(mma::shared_address(bar)), "r"(bytes) : "memory");
}
// Waits until the barrier's phase with this parity (0, 1, 0, ... per completion) has completed.
// A protocol error (a wrong count or parity) would hang the GPU: after 10 s of waiting the kernel
// traps instead, so the error reaches the host as a launch failure.
__device__ __forceinline__ void barrier_wait(uint64_t* bar, uint32_t parity) {
  const uint32_t address = mma::shared_address(bar);
  uint64_t first_check = 0;
  for (uint32_t spin = 1;; spin++) {
    uint32_t done;
    asm volatile("{\n.reg .pred p;\nmbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\nselp.b32 %0, 1, 0, p;\n}\n"
                 : "=r"(done)
                 : "r"(address), "r"(parity)
                 : "memory");
    if (done) return;
    if ((spin & 1023) == 0) {
      uint64_t now;
      asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(now));
      if (first_check == 0) first_check = now;
      else if (now - first_check > 10000000000ull) __trap();
    }
  }
}
// the box at (inner, outer) element coordinates of `map` into shared memory at `dst`, completing
// on `bar` (out-of-range elements arrive as zeros and still count)
__device__ __forceinline__ void tma_load_2d(void* dst, const void* map, int32_t inner, int32_t outer, uint64_t* bar) {
  asm volatile("cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3}], [%4];\n" ::"r"(
                   mma::shared_address(dst)),
               "l"(reinterpret_cast<uint64_t>(map)), "r"(inner), "r"(outer), "r"(mma::shared_address(bar))
               : "memory");
}
// the same for a 4-D map: coordinates innermost first, the box dense in shared memory in that order
__device__ __forceinline__ void tma_load_4d(void* dst, const void* map, int32_t c0, int32_t c1, int32_t c2, int32_t c3, uint64_t* bar) {
  asm volatile("cp.async.bulk.tensor.4d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3, %4, %5}], [%6];\n" ::"r"(
                   mma::shared_address(dst)),
               "l"(reinterpret_cast<uint64_t>(map)), "r"(c0), "r"(c1), "r"(c2), "r"(c3), "r"(mma::shared_address(bar))
               : "memory");
}
// shared memory at `src` (laid out as the map's box) into the box at (inner, outer) of `map`
// (elements outside the tensor are not written), in this thread's open bulk group. The writing
// threads fence (fence_async_shared) and meet a barrier before one thread issues it.
__device__ __forceinline__ void tma_store_2d(const void* map, int32_t inner, int32_t outer, const void* src) {
  asm volatile("cp.async.bulk.tensor.2d.global.shared::cta.bulk_group [%0, {%1, %2}], [%3];\n" ::"l"(reinterpret_cast<uint64_t>(map)),
               "r"(inner), "r"(outer), "r"(mma::shared_address(src))
               : "memory");
}
__device__ __forceinline__ void tma_store_4d(const void* map, int32_t c0, int32_t c1, int32_t c2, int32_t c3, const void* src) {
  asm volatile("cp.async.bulk.tensor.4d.global.shared::cta.bulk_group [%0, {%1, %2, %3, %4}], [%5];\n" ::"l"(reinterpret_cast<uint64_t>(map)),
               "r"(c0), "r"(c1), "r"(c2), "r"(c3), "r"(mma::shared_address(src))
               : "memory");
}
__device__ __forceinline__ void bulk_commit() { asm volatile("cp.async.bulk.commit_group;\n" ::: "memory"); }
// this thread's bulk groups but the newest `Pending` have read their shared memory (it may be
// written again) ...
template <int Pending>
__device__ __forceinline__ void bulk_wait_read() {
  asm volatile("cp.async.bulk.wait_group.read %0;\n" ::"n"(Pending) : "memory");
}
// ... or have completed (their global writes done: before the thread exits)
template <int Pending>
__device__ __forceinline__ void bulk_wait() {
  asm volatile("cp.async.bulk.wait_group %0;\n" ::"n"(Pending) : "memory");
}
// bar.sync on named barrier `id` (1-15; 0 is __syncthreads') for the calling warpgroup's 128 threads
__device__ __forceinline__ void warpgroup_sync(int id) { asm volatile("bar.sync %0, 128;\n" ::"r"(id) : "memory"); }

#endif  // DIT_WGMMA_AVAILABLE

}  // namespace dit::cuda::wgmma
