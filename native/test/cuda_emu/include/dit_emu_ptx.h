// The CUDA emulator's PTX instructions (emu.cpp), which its mma.cuh wraps in native/cuda/mma.cuh's
// names.
#pragma once
#include <cstdint>

namespace dit_emu {
// __cvta_generic_to_shared: an offset into the block's dynamic shared memory (its only shared
// memory with an address here)
uint32_t shared_address(const void* p);
// cp.async: queued in this thread's open group and done when a wait retires the group (or at
// once with DIT_EMU_ASYNC=early), so a read of shared memory before its wait sees stale data.
void copy16_async(void* dst, const void* src, bool valid);
void commit_async();
void wait_async(int pending);
// ldmatrix .m8n8 .b16, x1 / x2 / x4, optionally .trans
void ldmatrix(uint32_t* r, int matrices, bool trans, const void* row);
// mma.sync .m16n8k16 (k = 16) or .m16n8k8 (k = 8) .row.col .f32 with f16 (bf16 = false) or bf16
void mma_16x8(float* d, const uint32_t* a, const uint32_t* b, int k, bool bf16);
}  // namespace dit_emu
