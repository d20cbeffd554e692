// The epilogue of a warpgroup's 64 x N wgmma accumulators into a staging tile in shared memory,
// from which one thread stores it with TMA (tma_gemm.cuh: the linear layers, the convolution).
// Stored from registers instead, as the other tensor-core kernels do (store_linear_tile), each
// warp store instruction writes 8 rows x 16 bytes: 8 half-filled L2 sectors, ~3,000 store wavefronts for a 128 x 192 tile, and every
// element's address worked out in 64 bits with its own clamps: ~2,000 instructions a thread a tile
// (SASS, 2026-11-27), more than the tile's main loop, all while the tensor cores wait. Here an
// element costs its arithmetic, one conflict-free 4-byte shared store a pair, and a 32-bit column
// clamp for the bias and gate loads (each bias pair loaded once for the thread's two rows); the
// copy to global memory is the TMA engine's, asynchronous, while the next tile's products run.
//
// The staging tile: 64 rows x N columns of T in boxes of 64 columns (64 rows of 128 bytes, 16-byte
// chunk c of row r at chunk c ^ (r % 8): CU_TENSOR_MAP_SWIZZLE_128B's layout), box b at
// b * kStagingBoxBytes, 1024-byte aligned. The 8 rows a warp's 4-byte stores reach at once fall in
// 8 different chunks: all 32 banks, no conflict. With the gated residual, the residual tile is
// already there (a TMA load of the same boxes) and each value is replaced in place.
#pragma once
#include <cstring>

#include "linear_epilogue.cuh"
#include "wgmma.cuh"

namespace dit::cuda::wgmma {

constexpr int kStagingBoxColumns = kRowBytes / 2, kStagingBoxBytes = 64 * kRowBytes;

template <int N>
constexpr int staging_bytes() {
  static_assert(N % kStagingBoxColumns == 0, "whole boxes");
  return N / kStagingBoxColumns * kStagingBoxBytes;
}

#ifdef DIT_WGMMA_AVAILABLE
template <typename T>
__device__ __forceinline__ void unpack2(uint32_t bits, float& lo, float& hi) {
  T pair[2];
  std::memcpy(pair, &bits, sizeof pair);
  lo = to_f32(pair[0]);
  hi = to_f32(pair[1]);
}

// column(c, rows) for each 8-column group of this thread's accumulators d (its columns c =
// 8 j + 2 (lane % 4) and c + 1); rows(per_row) calls per_row(h, v0, v1, at) for its two rows
// (accumulator_row(h)) with the pair's accumulators and its 4 bytes in the staging tile. A
// column's loads go in `column`, once for both rows.
template <int N, typename Column>
__device__ __forceinline__ void for_each_staged_column(const float (&d)[N / 2], unsigned char* staging, Column&& column) {
  const int quad = threadIdx.x & 3, row_in_group = (threadIdx.x & 31) >> 2;
  unsigned char* row_base[2];
#pragma unroll
  for (int h = 0; h < 2; h++) row_base[h] = staging + accumulator_row(h) * kRowBytes + quad * 4;
#pragma unroll
  for (int j = 0; j < N / 8; j++) {
    // (row % 8 is row_in_group for both of the thread's rows)
    const int offset = (j / 8) * kStagingBoxBytes + (((j % 8) ^ row_in_group) << 4);
    column(8 * j + 2 * quad, [&](auto&& per_row) {
#pragma unroll
      for (int h = 0; h < 2; h++) per_row(h, d[4 * j + 2 * h], d[4 * j + 2 * h + 1], reinterpret_cast<uint32_t*>(row_base[h] + offset));
    });
  }
}

// The linear epilogue: this thread's accumulators of its warpgroup's rows m_base .. m_base + 63,
// columns n0 .. n0 + N - 1, through bias, activation and (when p.gate) residual + gate * (.), into
// `staging` (the residual tile's values there are read first). Columns past p.N read the last
// column's bias and gate (their values are not stored: TMA drops what lies outside C); rows past
// p.M the last row's gate.
template <int N, typename T>
__device__ __forceinline__ void stage_accumulators(const LinearParams& p, const float (&d)[N / 2], unsigned char* staging, int64_t m_base,
                                                   int64_t n0) {
  const int64_t columns_left = p.N - 1 - n0;
  const int column_last = columns_left < N - 1 ? int(columns_left) : N - 1;
  // the tile's bias as integer arithmetic (read only when p.bias; a select of the pointer made
  // ptxas work out every element's 64-bit address from scratch), read with __ldg (the integer
  // hides that it is global memory)
  const T* bias = reinterpret_cast<const T*>(reinterpret_cast<uintptr_t>(p.bias) + uintptr_t(n0) * sizeof(T));
  const T* gate_row[2] = {nullptr, nullptr};
  if (p.gate) {
#pragma unroll
    for (int h = 0; h < 2; h++) {
      const int64_t m = m_base + accumulator_row(h) < p.M ? m_base + accumulator_row(h) : p.M - 1;
      gate_row[h] = static_cast<const T*>(p.gate) + (m / p.rows_per_gate) * p.gate_stride + n0;
    }
  }
  with_linear_epilogue<T>(p, [&](const auto& epilogue) {
    for_each_staged_column<N>(d, staging, [&](int c, auto&& rows) {
      const int c0 = c < column_last ? c : column_last, c1 = c + 1 < column_last ? c + 1 : column_last;
      const float b0 = p.bias ? to_f32(__ldg(bias + c0)) : 0.0f, b1 = p.bias ? to_f32(__ldg(bias + c1)) : 0.0f;
      rows([&](int h, float v0, float v1, uint32_t* at) {
        v0 = epilogue.activation(v0 + b0);
        v1 = epilogue.activation(v1 + b1);
        if (epilogue.gated()) {
          float r0, r1;
          unpack2<T>(*at, r0, r1);
          v0 = r0 + to_f32(__ldg(gate_row[h] + c0)) * v0;
          v1 = r1 + to_f32(__ldg(gate_row[h] + c1)) * v1;
        }
        *at = mma::pack2<T>(v0, v1);
      });
    });
  });
}
#endif  // DIT_WGMMA_AVAILABLE

}  // namespace dit::cuda::wgmma
