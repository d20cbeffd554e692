// The CUDA emulator's Hopper instructions (hopper.cpp), which its wgmma_ptx.cuh wraps in
// native/cuda/wgmma_ptx.cuh's names.
#pragma once
#include <cstdint>

namespace dit_emu {
// wgmma.mma_async m64nNk16 .f32 (warpgroup-wide): A from the descriptor desc_a, or with a != nullptr
// from registers (4 x b32 per thread, mma.sync's A fragment per warp); B from desc_b, K-major for
// the shared-memory A form, N-major (trans-b) for the register form. Queued until a wait.
void wgmma_issue(float* d, int n, const uint32_t* a, uint64_t desc_a, uint64_t desc_b, bool bf16, bool accumulate);
// fence_operands(): the array's bits now, so a write between the next wgmma.fence and a wgmma
// using the array faults
void wgmma_pin_operands(const void* registers, size_t bytes);
void wgmma_fence();
// fence.proxy.async.shared::cta: this thread's cp.async data, and the shared memory as it is now,
// may be read by the async proxy (wgmma, TMA stores)
void fence_proxy_async();
void wgmma_commit();
void wgmma_wait(int pending);
// mbarrier: init, arrive (with expect_tx bytes when bytes > 0), try_wait.parity until it passes
void mbarrier_init(uint64_t* bar, uint32_t arrivals);
void mbarrier_arrive(uint64_t* bar, uint32_t expect_bytes);
void mbarrier_wait(uint64_t* bar, uint32_t parity);
// cp.async.bulk.tensor.<rank>d with mbarrier::complete_tx: the box at `coords` (innermost first)
// of a tensor map made by the emulator's cuTensorMapEncodeTiled
void tma_load(void* dst, const void* map, const int32_t* coords, int rank, uint64_t* bar);
// cp.async.bulk.tensor.<rank>d.global.shared::cta.bulk_group: shared memory at src into the box at
// `coords` (elements outside the tensor not written), in this thread's open bulk group.
// The shared memory is read when a cp.async.bulk.wait_group retires the group (at the issue with
// DIT_EMU_ASYNC=early), so a buffer refilled before the wait shows; a thread that ends with a
// group not retired faults.
void tma_store(const void* map, const int32_t* coords, int rank, const void* src);
void bulk_commit();
void bulk_wait(int pending);
void bulk_check_exit();
// bar.sync on a named barrier of the calling warpgroup's 128 threads
void warpgroup_barrier();
}  // namespace dit_emu
