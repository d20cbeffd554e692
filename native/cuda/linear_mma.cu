// The f16 / bf16 GEMM of the linear layers on tensor cores through mma.sync (sm_80+), the shape
// of a classic Ampere GEMM: a 256-thread block computes a 128 x 128 tile of C, each of its 8 warps
// a 64 x 32 piece (2 warps along M, 4 along N) as 4 x 4 m16n8k16 MMAs per 16 of K. A and W tiles
// 32 deep travel global -> shared by cp.async in a 4-stage ring, so three tiles are in flight
// while one is multiplied; fragments come out of shared memory by ldmatrix. Shared rows are 64
// bytes (4 chunks of 16); chunk c of row r sits at c ^ ((r / 2) % 4), so the 8 rows an ldmatrix
// phase reads fall on 8 different 16-byte bank groups. The epilogue (bias, activation, gated
// residual) runs on the accumulators in registers, two adjacent columns per store.
// Needs K, lda, ldw multiples of 8 and 16-byte aligned A and W (rows copied 16 bytes at a time);
// the caller falls back to the WMMA kernel otherwise. M and N are free (edges zero-filled).
#include "linear_kernels.h"
#include "linear_epilogue.cuh"
#include "mma.cuh"

namespace dit::cuda {

namespace {

constexpr int kBlockM = 128, kBlockN = 128, kBlockK = 32, kStages = 4, kThreads = 256;
constexpr int kChunksPerRow = kBlockK / 8;                  // 16-byte chunks per shared row
constexpr int kStageChunks = (kBlockM + kBlockN) * kChunksPerRow;
constexpr size_t kSharedBytes = size_t(kStages) * kStageChunks * 16;  // 64 KiB
static_assert(kBlockM == kBlockN, "A and W tiles share one loader");
static_assert(kBlockM * kChunksPerRow == 2 * kThreads, "each thread copies two chunks of A and two of W");

__device__ __forceinline__ int swizzled(int row, int chunk) { return row * kChunksPerRow + (chunk ^ ((row >> 1) & 3)); }

template <typename T>
__device__ __forceinline__ void store_pair(const LinearParams& p, int64_t m, int64_t n, float v0, float v1) {
  if (m >= p.M || n >= p.N) return;
  v0 = linear_epilogue<T>(p, m, n, v0);
  T* c = static_cast<T*>(p.c) + m * p.ldc + n;
  if (n + 1 < p.N) {
    v1 = linear_epilogue<T>(p, m, n + 1, v1);
    if (reinterpret_cast<uintptr_t>(c) % 4 == 0) {
      *reinterpret_cast<uint32_t*>(c) = mma::pack2<T>(v0, v1);
      return;
    }
    c[1] = from_f32<T>(v1);
  }
  c[0] = from_f32<T>(v0);
}

template <typename T>
__global__ void __launch_bounds__(kThreads, 2) gemm_mma_kernel(const LinearParams p) {
  extern __shared__ __align__(128) uint4 gemm_smem[];
  const T* a = static_cast<const T*>(p.a);
  const T* w = static_cast<const T*>(p.w);
  const int64_t m0 = int64_t(blockIdx.y) * kBlockM, n0 = int64_t(blockIdx.x) * kBlockN;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int warp_m = (warp >> 2) * 64, warp_n = (warp & 3) * 32;
  const int k_tiles = int((p.K + kBlockK - 1) / kBlockK);

  auto load_tile = [&](int stage, int k_tile) {
    uint4* sa = gemm_smem + stage * kStageChunks;
    uint4* sw = sa + kBlockM * kChunksPerRow;
    const int64_t k0 = int64_t(k_tile) * kBlockK;
#pragma unroll
    for (int i = 0; i < 2; i++) {
      const int idx = tid + i * kThreads, row = idx / kChunksPerRow, chunk = idx % kChunksPerRow;
      const int64_t k = k0 + chunk * 8;
      const bool a_ok = m0 + row < p.M && k < p.K;
      mma::copy16_async(sa + swizzled(row, chunk), a_ok ? a + (m0 + row) * p.lda + k : a, a_ok);
      const bool w_ok = n0 + row < p.N && k < p.K;
      mma::copy16_async(sw + swizzled(row, chunk), w_ok ? w + (n0 + row) * p.ldw + k : w, w_ok);
    }
  };

  float acc[4][4][4];
#pragma unroll
  for (int i = 0; i < 4; i++)
#pragma unroll
    for (int j = 0; j < 4; j++)
#pragma unroll
      for (int e = 0; e < 4; e++) acc[i][j][e] = 0.0f;

#pragma unroll
  for (int s = 0; s < kStages - 1; s++) {
    if (s < k_tiles) load_tile(s, s);
    mma::commit_async();  // empty groups too, so the wait count below stays exact
  }

  for (int kt = 0; kt < k_tiles; kt++) {
    mma::wait_async<kStages - 2>();  // tile kt has landed (for this thread) ...
    __syncthreads();                 // ... for all threads, and tile kt - 1 is no longer read
    const int next = kt + kStages - 1;
    if (next < k_tiles) load_tile(next % kStages, next);
    mma::commit_async();

    const uint4* sa = gemm_smem + (kt % kStages) * kStageChunks;
    const uint4* sw = sa + kBlockM * kChunksPerRow;
#pragma unroll
    for (int ks = 0; ks < kBlockK / 16; ks++) {
      uint32_t af[4][4], bf[4][2];
#pragma unroll
      for (int mi = 0; mi < 4; mi++)
        mma::ldmatrix_x4(af[mi], sa + swizzled(warp_m + mi * 16 + (lane & 15), ks * 2 + (lane >> 4)));
#pragma unroll
      for (int nj = 0; nj < 2; nj++) {
        const int matrix = lane >> 3;
        uint32_t r[4];
        mma::ldmatrix_x4(r, sw + swizzled(warp_n + nj * 16 + (matrix >> 1) * 8 + (lane & 7), ks * 2 + (matrix & 1)));
        bf[2 * nj][0] = r[0];
        bf[2 * nj][1] = r[1];
        bf[2 * nj + 1][0] = r[2];
        bf[2 * nj + 1][1] = r[3];
      }
#pragma unroll
      for (int mi = 0; mi < 4; mi++)
#pragma unroll
        for (int ni = 0; ni < 4; ni++) mma::mma_16x8x16<T>(acc[mi][ni], af[mi], bf[ni][0], bf[ni][1]);
    }
  }
  mma::wait_async<0>();

#pragma unroll
  for (int mi = 0; mi < 4; mi++)
#pragma unroll
    for (int ni = 0; ni < 4; ni++) {
      const int64_t m = m0 + warp_m + mi * 16 + (lane >> 2);
      const int64_t n = n0 + warp_n + ni * 8 + (lane & 3) * 2;
      store_pair<T>(p, m, n, acc[mi][ni][0], acc[mi][ni][1]);
      store_pair<T>(p, m + 8, n, acc[mi][ni][2], acc[mi][ni][3]);
    }
}

}  // namespace

template <typename T>
bool linear_mma(const LinearParams& p) {
  if (p.K % 8 != 0 || !mma::rows_are_16_byte_aligned(p.a, p.lda) || !mma::rows_are_16_byte_aligned(p.w, p.ldw))
    return false;
  if (int64_t((p.M + kBlockM - 1) / kBlockM) > 65535) return false;
  auto kernel = gemm_mma_kernel<T>;
  static const bool configured =
      (check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(kSharedBytes)), "linear smem"), true);
  (void)configured;
  const dim3 grid(unsigned((p.N + kBlockN - 1) / kBlockN), unsigned((p.M + kBlockM - 1) / kBlockM));
  kernel<<<grid, kThreads, kSharedBytes, stream()>>>(p);
  return true;
}

template bool linear_mma<__half>(const LinearParams&);
template bool linear_mma<__nv_bfloat16>(const LinearParams&);

}  // namespace dit::cuda
