// The tensor-core GEMM main loop shared by linear (linear_mma.cu) and the implicit-GEMM
// convolution (conv3d_mma.cu), for f16 / bf16 through mma.sync (sm_80+), in the shape of a classic
// Ampere GEMM: a 256-thread block computes a 128 x kBN tile of C = A B^T (A: 128 rows, B: kBN rows,
// both running along K), each of its 8 warps a 64 x kBN / 4 piece (2 warps along M, 4 along N) as
// 4 x kBN / 32 m16n8k16 MMAs per 16 of K. Tiles 32 deep travel global -> shared by cp.async in a
// 4-stage ring, so three are in flight while one is multiplied; fragments come out of shared
// memory by ldmatrix.
// What differs between users is how a tile's rows are found (a loader: load(tile, k_tile, tid)
// issues this thread's 16-byte copies of its tile) and the epilogue (for_each_pair).
#pragma once
#include "mma.cuh"

namespace dit::cuda::gemm {

constexpr int kBlockM = 128, kBlockK = 32, kStages = 4, kThreads = 256;

// How a tile of rows running along K sits in shared memory, and which 16-byte chunks of it a
// thread of the block copies (loaders are written once for any tile kind: RowLoader here, the
// convolution's gather in conv3d_implicit.cuh). This main loop's tile: kBlockK deep (64-byte rows
// of 4 chunks), chunk c of row r in slot c ^ ((r / 2) % 4), so the 8 rows one ldmatrix phase reads
// fall on 8 different 16-byte bank groups. (wgmma's 128-byte swizzled tile: wgmma::SwizzledTile.)
struct MmaTile {
  static constexpr int kDepth = kBlockK, kChunksPerRow = kBlockK / 8;
  __device__ static __forceinline__ int slot(int row, int chunk) { return row * kChunksPerRow + (chunk ^ ((row >> 1) & 3)); }
};

// The block tile: 128 rows of A by kBN (128 or 256) rows of B, 32 deep; 8 warps as 2 (M) x 4 (N),
// each a 64 x kBN / 4 piece. 256 wide means twice the MMAs per shared-memory fragment load (64 x 64
// warp tiles) and one block per SM; 128 wide, two blocks per SM and finer waves on narrow N.
template <int kBN>
struct Shape {
  static_assert(kBN == 128 || kBN == 256, "B tile: 128 or 256 rows");
  static constexpr int kBlockN = kBN;
  static constexpr int kNTiles = kBN / 32;  // n8 tiles per warp
  static constexpr int kTileChunksA = kBlockM * MmaTile::kChunksPerRow;
  static constexpr int kStageChunks = (kBlockM + kBN) * MmaTile::kChunksPerRow;
  static constexpr size_t kSharedBytes = size_t(kStages) * kStageChunks * 16;  // 64 or 96 KiB
  static constexpr int kMinBlocksPerSM = kBN == 128 ? 2 : 1;
};

// The tile rows a thread copies (row_of(tid, i), i = 0 .. rows x chunks per row / kThreads - 1) and
// the chunk along K it copies in all of them.
template <typename Tile>
__device__ __forceinline__ int row_of(int tid, int i) { return (tid + i * kThreads) / Tile::kChunksPerRow; }
template <typename Tile>
__device__ __forceinline__ int chunk_of(int tid) { return tid % Tile::kChunksPerRow; }

// Rows stored contiguously along K: tile row r (of kRows) is src + (row0 + r) * ld; rows past
// `rows` and K past `K` are zero-filled. Needs K, ld multiples of 8 and src 16-byte aligned.
template <typename T, int kRows = kBlockM, typename Tile = MmaTile>
struct RowLoader {
  const T* src;
  int64_t ld, rows, K, row0;
  __device__ __forceinline__ void load(uint4* tile, int k_tile, int tid) const {
    static_assert(kRows * Tile::kChunksPerRow % kThreads == 0, "whole rows per pass");
    const int chunk = chunk_of<Tile>(tid);
    const int64_t k = int64_t(k_tile) * Tile::kDepth + chunk * 8;
#pragma unroll
    for (int i = 0; i < kRows * Tile::kChunksPerRow / kThreads; i++) {
      const int row = row_of<Tile>(tid, i);
      const bool ok = row0 + row < rows && k < K;
      mma::copy16_async(tile + Tile::slot(row, chunk), ok ? src + (row0 + row) * ld + k : src, ok);
    }
  }
};

// acc[mi][ni] is the m16n8 accumulator at rows warp_m + 16 mi, columns warp_n + 8 ni of the tile.
template <typename T, int kBN, typename LoaderA, typename LoaderB>
__device__ __forceinline__ void mainloop(float (&acc)[4][kBN / 32][4], const LoaderA& load_a, const LoaderB& load_b, int k_tiles,
                                         uint4* smem) {
  using S = Shape<kBN>;
  constexpr int NT = S::kNTiles;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int warp_m = (warp >> 2) * 64, warp_n = (warp & 3) * (kBN / 4);
#pragma unroll
  for (int i = 0; i < 4; i++)
#pragma unroll
    for (int j = 0; j < NT; j++)
#pragma unroll
      for (int e = 0; e < 4; e++) acc[i][j][e] = 0.0f;

  auto load_stage = [&](int stage, int k_tile) {
    uint4* tile = smem + stage * S::kStageChunks;
    load_a.load(tile, k_tile, tid);
    load_b.load(tile + S::kTileChunksA, k_tile, tid);
  };
#pragma unroll
  for (int s = 0; s < kStages - 1; s++) {
    if (s < k_tiles) load_stage(s, s);
    mma::commit_async();  // empty groups too, so the wait count below stays exact
  }

  for (int kt = 0; kt < k_tiles; kt++) {
    mma::wait_async<kStages - 2>();  // tile kt has landed (this thread's copies) ...
    __syncthreads();                 // ... everyone's, and tile kt - 1 is no longer read
    const int next = kt + kStages - 1;
    if (next < k_tiles) load_stage(next % kStages, next);
    mma::commit_async();

    const uint4* sa = smem + (kt % kStages) * S::kStageChunks;
    const uint4* sb = sa + S::kTileChunksA;
#pragma unroll
    for (int ks = 0; ks < kBlockK / 16; ks++) {
      uint32_t af[4][4], bf[NT][2];
#pragma unroll
      for (int mi = 0; mi < 4; mi++)
        mma::ldmatrix_x4(af[mi], sa + MmaTile::slot(warp_m + mi * 16 + (lane & 15), ks * 2 + (lane >> 4)));
#pragma unroll
      for (int nj = 0; nj < NT / 2; nj++) {
        const int matrix = lane >> 3;  // (n 0-7, k 0-7), (n 0-7, k 8-15), (n 8-15, k 0-7), (n 8-15, k 8-15)
        uint32_t r[4];
        mma::ldmatrix_x4(r, sb + MmaTile::slot(warp_n + nj * 16 + (matrix >> 1) * 8 + (lane & 7), ks * 2 + (matrix & 1)));
        bf[2 * nj][0] = r[0];
        bf[2 * nj][1] = r[1];
        bf[2 * nj + 1][0] = r[2];
        bf[2 * nj + 1][1] = r[3];
      }
#pragma unroll
      for (int mi = 0; mi < 4; mi++)
#pragma unroll
        for (int ni = 0; ni < NT; ni++) mma::mma_16x8x16<T>(acc[mi][ni], af[mi], bf[ni][0], bf[ni][1]);
    }
  }
  mma::wait_async<0>();
}

// fn(m, row): for each tile row m this thread holds values of, with row(pair) calling
// pair(n, v0, v1) for its columns n and n + 1 (n even); v0 and v1 are the accumulators themselves
// (F = float: pair may take them by reference and overwrite them).
template <int kBN, typename F, typename Fn>
__device__ __forceinline__ void for_each_row(F (&acc)[4][kBN / 32][4], Fn&& fn) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int warp_m = (warp >> 2) * 64, warp_n = (warp & 3) * (kBN / 4);
#pragma unroll
  for (int mi = 0; mi < 4; mi++)
#pragma unroll
    for (int half = 0; half < 2; half++) {
      fn(warp_m + mi * 16 + (lane >> 2) + 8 * half, [&](auto&& pair) {
#pragma unroll
        for (int ni = 0; ni < kBN / 32; ni++) pair(warp_n + ni * 8 + (lane & 3) * 2, acc[mi][ni][2 * half], acc[mi][ni][2 * half + 1]);
      });
    }
}

// fn(m, n, v0, v1) for every pair of values this thread holds (for_each_row, flattened).
template <int kBN, typename Fn>
__device__ __forceinline__ void for_each_pair(const float (&acc)[4][kBN / 32][4], Fn&& fn) {
  for_each_row<kBN>(acc, [&](int m, auto&& row) { row([&](int n, float v0, float v1) { fn(m, n, v0, v1); }); });
}

// Stores v0, v1 (already in their final f32 values) at at[0], at[1], the second only when
// `second`; one 4-byte store when the address allows.
template <typename T>
__device__ __forceinline__ void store_pair(T* at, bool second, float v0, float v1) {
  if (second && reinterpret_cast<uintptr_t>(at) % 4 == 0) {
    *reinterpret_cast<uint32_t*>(at) = mma::pack2<T>(v0, v1);
    return;
  }
  at[0] = from_f32<T>(v0);
  if (second) at[1] = from_f32<T>(v1);
}

}  // namespace dit::cuda::gemm
