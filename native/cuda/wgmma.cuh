// Hopper warpgroup tensor-core primitives (sm_90a), shared by the wgmma kernels (linear_wgmma.cu,
// cp.async-fed; linear_tma.cu, fed by the bulk tensor copy engine; attention_wgmma.cu):
// shared-memory matrix descriptors (128-byte swizzled and no-swizzle layouts), wgmma m64nNk16 with
// f32 accumulators (A from shared memory or from registers), its fences, mbarriers and TMA loads,
// and the store of a warpgroup's accumulators through the linear epilogue. Everything here compiles to nothing outside sm_90a; callers guard
// their kernel bodies with DIT_WGMMA_AVAILABLE. The instructions themselves (inline PTX) are in
// wgmma_ptx.cuh.
//
// The swizzled layout: a tile of rows of 64 16-bit elements (128 bytes, one swizzle span), 16-byte
// chunk c of row r at chunk c ^ (r % 8), 8-row groups 1024 bytes apart, the tile 1024-byte aligned.
// cp.async writes it through SwizzledTile::slot(); TMA with CU_TENSOR_MAP_SWIZZLE_128B writes the same.
#pragma once
#include <type_traits>

#include "gemm_mma.cuh"
#include "linear_epilogue.cuh"

// (the CUDA emulator of the native tests runs them too: native/test/cuda_emu)
#if (defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)) || defined(DIT_CUDA_EMULATION)
#define DIT_WGMMA_AVAILABLE 1
#endif

namespace dit::cuda::wgmma {

constexpr int kRowBytes = 128;           // one swizzle span
constexpr int kTileK = kRowBytes / 2;    // its elements of f16 / bf16: the K depth of a GEMM tile

// The swizzled tile as cp.async loaders see it (gemm::RowLoader, the convolution's gather):
// kTileK deep, 16-byte chunk c of row r in 16-byte slot 8 r + (c ^ (r % 8)).
struct SwizzledTile {
  static constexpr int kDepth = kTileK, kChunksPerRow = kRowBytes / 16;
  __device__ static __forceinline__ int slot(int row, int chunk) { return row * kChunksPerRow + (chunk ^ (row & 7)); }
};

// A shared-memory matrix descriptor: start address, leading and stride byte offsets (16-byte
// units), layout mode in bits 62-63 (0: no swizzle, 1: 128-byte swizzle).
__device__ __forceinline__ uint64_t encode_descriptor(uint32_t smem_address, uint32_t leading, uint32_t stride, uint64_t mode) {
  return uint64_t((smem_address & 0x3FFFF) >> 4) | (uint64_t((leading & 0x3FFFF) >> 4) << 16) |
         (uint64_t((stride & 0x3FFFF) >> 4) << 32) | (mode << 62);
}

// K-major operand, 128-byte swizzle: leading offset unused with this swizzle (16 bytes by
// convention), stride 1024 bytes between 8-row groups. Stepping K by 16 elements moves the start
// address 32 bytes.
__device__ __forceinline__ uint64_t descriptor(uint32_t smem_address) { return encode_descriptor(smem_address, 16, 1024, 1); }

// `desc` moved `bytes` (a multiple of 16) further along shared memory. Only the start-address
// field (bits 0-13, 16-byte units) changes, and a shared address stays below 256 KiB, so no carry
// leaves it: one 32-bit add on the low word. Per k step, a kernel advances a descriptor encoded
// once per tile instead of encoding each step's anew (the attention's main loop had ~5 uniform
// instructions of masks and shifts per wgmma, ~65 of its ~600 a tile: SASS, 2026-11-27).
__device__ __forceinline__ uint64_t advance(uint64_t desc, uint32_t bytes) {
  return (desc & 0xFFFFFFFF00000000ull) | uint32_t(uint32_t(desc) + (bytes >> 4));
}

// The dynamic shared memory from its first 1024-byte boundary: the swizzle pattern is a function
// of shared-address bits, so tiles start there (kernels allocate 1024 bytes of slack).
__device__ __forceinline__ unsigned char* align_1024(unsigned char* raw) {
  return raw + ((1024 - (mma::shared_address(raw) & 1023)) & 1023);
}

// No-swizzle ("interleave") layout: 8 x 16-byte core matrices, each 128 contiguous bytes (8 rows
// of 16 bytes). K-major operands: `leading` = bytes between core matrices adjacent in K, `stride`
// = between those adjacent in M / N. MN-major (trans-b): `leading` = adjacent in K, `stride` =
// adjacent in M / N (each core matrix then 8 K-rows of 8 contiguous M / N elements).
__device__ __forceinline__ uint64_t descriptor_interleave(uint32_t smem_address, uint32_t leading, uint32_t stride) {
  return encode_descriptor(smem_address, leading, stride, 0);
}

}  // namespace dit::cuda::wgmma

#include "wgmma_ptx.cuh"

namespace dit::cuda::wgmma {

#ifdef DIT_WGMMA_AVAILABLE
// One kTileK-deep K tile of a warpgroup's 64 x N product, both operands 128-byte swizzled K-major
// tiles in shared memory at `a` and `b`: pins the accumulators, fences, issues the four k16 steps
// (32 bytes apart) and commits them as one batch (the caller waits for it).
template <int N, typename T>
__device__ __forceinline__ void mma_k_tile(float (&d)[N / 2], uint32_t a, uint32_t b) {
  const uint64_t desc_a = descriptor(a), desc_b = descriptor(b);
  fence_operands(d);
  fence();
#pragma unroll
  for (int ks = 0; ks < kTileK / 16; ks++) mma_async<N, T>(d, advance(desc_a, ks * 32), advance(desc_b, ks * 32));
  commit();
}

// The accumulator layout (per warp of the warpgroup, 16 rows) is mma.sync's C fragments, one per
// 8 columns: d[4 j + 0, 1] at row lane / 4, columns 8 j + (lane % 4) * 2 + {0, 1}; d[4 j + 2, 3]
// at row + 8. This thread's rows of the warpgroup's 64: half 0 and half 1.
__device__ __forceinline__ int accumulator_row(int half) { return ((threadIdx.x / 32) & 3) * 16 + ((threadIdx.x & 31) >> 2) + 8 * half; }

// fn(m, row): for each of the warpgroup's rows m (0 .. 63) this thread holds values of, with
// row(pair) calling pair(n, v0, v1) for its columns n and n + 1 (n even). v0 and v1 are the
// accumulators themselves (F = float: pair may take them by reference and overwrite them).
template <int N, typename F, typename Fn>
__device__ __forceinline__ void for_each_row(F (&d)[N / 2], Fn&& fn) {
  const int lane = threadIdx.x & 31;
#pragma unroll
  for (int half = 0; half < 2; half++) {
    fn(accumulator_row(half), [&](auto&& pair) {
#pragma unroll
      for (int j = 0; j < N / 8; j++) pair(j * 8 + (lane & 3) * 2, d[4 * j + 2 * half], d[4 * j + 2 * half + 1]);
    });
  }
}

// fn(m, n, v0, v1) for every pair of values this thread holds (for_each_row, flattened).
template <int N, typename Fn>
__device__ __forceinline__ void for_each_pair(const float (&d)[N / 2], Fn&& fn) {
  for_each_row<N>(d, [&](int m, auto&& row) { row([&](int n, float v0, float v1) { fn(m, n, v0, v1); }); });
}

// Stores a warpgroup's 64 x N accumulators at rows m_base.., columns n0.. through the linear
// epilogue (which overwrites them).
template <int N, typename T>
__device__ __forceinline__ void store_accumulators(const LinearParams& p, float (&d)[N / 2], int64_t m_base, int64_t n0) {
  store_linear_tile<T, N / 8>(p, m_base, n0, [&](auto&& fn) { for_each_row<N>(d, fn); });
}
#endif  // DIT_WGMMA_AVAILABLE

}  // namespace dit::cuda::wgmma
