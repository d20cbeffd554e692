// The CUDA emulator's version of native/cuda/wgmma_ptx.cuh: the same functions, with the Hopper
// instructions' semantics written out in C++ from the PTX ISA (hopper.cpp): wgmma m64nNk16 with
// operands decoded from shared-memory matrix descriptors, its commit and wait groups (the product
// is done when a wait retires its group, so operands overwritten before the wait show), mbarriers
// with transaction counts, and TMA 2-D tile loads through the emulator's tensor maps.
#pragma once
#include <type_traits>

#include "dit_emu_hopper.h"
#include "mma.cuh"

namespace dit::cuda::wgmma {

#ifdef DIT_WGMMA_AVAILABLE
// d (64 x N, this warpgroup's accumulators) += A (64 x 16) * B (N x 16)^T, both from shared memory;
// with accumulate false, d = A B
template <int N, typename T>
inline void mma_async(float (&d)[N / 2], uint64_t desc_a, uint64_t desc_b, bool accumulate = true) {
  static_assert(N == 64 || N == 128 || N == 192, "instantiated for N = 64, 128, 192");
  dit_emu::wgmma_issue(d, N, nullptr, desc_a, desc_b, std::is_same_v<T, __nv_bfloat16>, accumulate);
}

// d (64 x N) += A (64 x 16, registers) * B (16 x N, shared memory, N contiguous)
template <int N, typename T>
inline void mma_async_rs(float (&d)[N / 2], const uint32_t (&a)[4], uint64_t desc_b) {
  static_assert(N == 64 || N == 72 || N == 80 || N == 96 || N == 128, "instantiated for N = 64, 72, 80, 96, 128");
  dit_emu::wgmma_issue(d, N, a, 0, desc_b, std::is_same_v<T, __nv_bfloat16>, true);
}

inline void fence() { dit_emu::wgmma_fence(); }
template <int N>
inline void fence_operands(float (&r)[N]) {
  dit_emu::wgmma_pin_operands(r, sizeof r);
}
template <int N>
inline void fence_operands(uint32_t (&r)[N]) {
  dit_emu::wgmma_pin_operands(r, sizeof r);
}
// an instruction-scheduling boundary for ptxas: nothing to do here
inline void schedule_after(float) {}
inline void commit() { dit_emu::wgmma_commit(); }
template <int Pending>
inline void wait() {
  dit_emu::wgmma_wait(Pending);
}
inline void fence_async_shared() { dit_emu::fence_proxy_async(); }
// the register split has no meaning here (no register file)
template <uint32_t kRegisters>
inline void release_registers() {}
template <uint32_t kRegisters>
inline void claim_registers() {}

inline void barrier_init(uint64_t* bar, uint32_t arrivals) { dit_emu::mbarrier_init(bar, arrivals); }
inline void barrier_init_fence() {}
inline void barrier_arrive(uint64_t* bar) { dit_emu::mbarrier_arrive(bar, 0); }
inline void barrier_arrive_expect_bytes(uint64_t* bar, uint32_t bytes) { dit_emu::mbarrier_arrive(bar, bytes); }
inline void barrier_wait(uint64_t* bar, uint32_t parity) { dit_emu::mbarrier_wait(bar, parity); }
inline void tma_load_2d(void* dst, const void* map, int32_t inner, int32_t outer, uint64_t* bar) {
  const int32_t coords[2] = {inner, outer};
  dit_emu::tma_load(dst, map, coords, 2, bar);
}
inline void tma_load_4d(void* dst, const void* map, int32_t c0, int32_t c1, int32_t c2, int32_t c3, uint64_t* bar) {
  const int32_t coords[4] = {c0, c1, c2, c3};
  dit_emu::tma_load(dst, map, coords, 4, bar);
}
inline void tma_store_2d(const void* map, int32_t inner, int32_t outer, const void* src) {
  const int32_t coords[2] = {inner, outer};
  dit_emu::tma_store(map, coords, 2, src);
}
inline void tma_store_4d(const void* map, int32_t c0, int32_t c1, int32_t c2, int32_t c3, const void* src) {
  const int32_t coords[4] = {c0, c1, c2, c3};
  dit_emu::tma_store(map, coords, 4, src);
}
inline void bulk_commit() { dit_emu::bulk_commit(); }
// the emulator reads and writes a store's data at once: .read and full completion are one
template <int Pending>
inline void bulk_wait_read() {
  dit_emu::bulk_wait(Pending);
}
template <int Pending>
inline void bulk_wait() {
  dit_emu::bulk_wait(Pending);
}
// every named barrier is the warpgroup's own here (the kernels use one per warpgroup)
inline void warpgroup_sync(int) { dit_emu::warpgroup_barrier(); }
#endif  // DIT_WGMMA_AVAILABLE

}  // namespace dit::cuda::wgmma
