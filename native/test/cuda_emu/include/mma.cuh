// The CUDA emulator's version of native/cuda/mma.cuh: the same functions, with the PTX
// instructions' semantics written out in C++ from the PTX ISA (cp.async, ldmatrix, mma.sync
// m16n8k16 / m16n8k8 with f32 accumulation) instead of inline assembly. Found before the real
// header because the emulator's include directory comes first (CMakeLists.txt).
#pragma once
#include <cmath>
#include <type_traits>

#include "common.cuh"
#include "dit_emu_ptx.h"

namespace dit::cuda::mma {

inline uint32_t shared_address(const void* p) { return dit_emu::shared_address(p); }

inline void copy16_async(void* dst, const void* src, bool valid) { dit_emu::copy16_async(dst, src, valid); }
// the emulator's block barrier counts threads wherever they call it
inline void block_barrier_any_site() { __syncthreads(); }
inline void commit_async() { dit_emu::commit_async(); }
template <int Pending>
inline void wait_async() {
  dit_emu::wait_async(Pending);
}

inline void ldmatrix_x4(uint32_t (&r)[4], const void* row) { dit_emu::ldmatrix(r, 4, false, row); }
inline void ldmatrix_x2(uint32_t (&r)[2], const void* row) { dit_emu::ldmatrix(r, 2, false, row); }
inline void ldmatrix_x4_trans(uint32_t (&r)[4], const void* row) { dit_emu::ldmatrix(r, 4, true, row); }
inline void ldmatrix_x2_trans(uint32_t (&r)[2], const void* row) { dit_emu::ldmatrix(r, 2, true, row); }

template <typename T>
inline void mma_16x8x16(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  static_assert(std::is_same_v<T, __half> || std::is_same_v<T, __nv_bfloat16>, "mma_16x8x16 takes f16 or bf16");
  const uint32_t b[2] = {b0, b1};
  dit_emu::mma_16x8(d, a, b, 16, std::is_same_v<T, __nv_bfloat16>);
}
template <typename T>
inline void mma_16x8x8(float (&d)[4], const uint32_t (&a)[2], uint32_t b0) {
  static_assert(std::is_same_v<T, __half> || std::is_same_v<T, __nv_bfloat16>, "mma_16x8x8 takes f16 or bf16");
  dit_emu::mma_16x8(d, a, &b0, 8, std::is_same_v<T, __nv_bfloat16>);
}

// ex2.approx.ftz: results below 2^-126 flush to 0 (as the hardware's); the last bits of the
// approximation are not modelled
inline float exp2_approx(float x) {
  const float y = std::exp2(x);
  return std::fpclassify(y) == FP_SUBNORMAL ? 0.0f : y;
}

template <typename T>
inline uint32_t pack2(float lo, float hi) {
  uint32_t r;
  if constexpr (std::is_same_v<T, __half>) {
    const __half2 v = __floats2half2_rn(lo, hi);
    std::memcpy(&r, &v, 4);
  } else {
    const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    std::memcpy(&r, &v, 4);
  }
  return r;
}

}  // namespace dit::cuda::mma
