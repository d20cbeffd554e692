// The cp.async-fed wgmma main loop shared by linear (linear_wgmma.cu) and the implicit-GEMM
// convolution (conv3d_wgmma.cu), for f16 / bf16 on Hopper (sm_90a): a 256-thread block (2
// warpgroups) computes a 128 x N tile of C = A B^T (A: 128 rows, B: N rows, both running along K);
// warpgroup g owns rows 64 g .. 64 g + 63 and issues one m64nNk16 wgmma per 16 of K, A and B both
// read from shared memory through matrix descriptors. Tiles 64 deep (128-byte rows) arrive by
// cp.async in a 5-stage ring laid out as wgmma's 128-byte swizzle wants it (wgmma::SwizzledTile,
// 8-row groups 1024 bytes apart, the ring 1024-byte aligned); a descriptor steps through K by
// moving its start address 32 bytes. One wgmma batch stays in flight while the next tile's copies
// are issued: loads run 3 tiles ahead, and a stage is refilled only after the barrier that follows
// every warpgroup's wait for the batch that read it.
// What differs between users is how a tile's rows are found (a loader, as for gemm::mainloop, with
// wgmma::SwizzledTile as its tile) and the epilogue (wgmma::for_each_pair on the accumulators).
#pragma once
#include "wgmma.cuh"

namespace dit::cuda::wgmma {

constexpr int kBlockM = 128, kStages = 5, kThreads = 256;
static_assert(kThreads == gemm::kThreads, "the loaders' row_of / chunk_of count the same threads");

template <int N>
struct Shape {
  static_assert(N % 64 == 0 && N <= 256, "B tile: whole 8-row groups, at most wgmma's n256");
  static constexpr int kATileBytes = kBlockM * kRowBytes;              // 16 KiB
  static constexpr int kStageBytes = kATileBytes + N * kRowBytes;
  static constexpr size_t kSharedBytes = size_t(kStages) * kStageBytes + 1024;  // + alignment slack
  static_assert(kATileBytes % 1024 == 0 && kStageBytes % 1024 == 0, "every tile starts on a swizzle-pattern boundary");
};

#ifdef DIT_WGMMA_AVAILABLE
// acc: this thread's part of its warpgroup's 64 x N product (for_each_pair walks it). `smem_raw`:
// Shape<N>::kSharedBytes of dynamic shared memory.
template <int N, typename T, typename LoaderA, typename LoaderB>
__device__ __forceinline__ void mainloop(float (&acc)[N / 2], const LoaderA& load_a, const LoaderB& load_b, int k_tiles,
                                         unsigned char* smem_raw) {
  using S = Shape<N>;
  unsigned char* smem = align_1024(smem_raw);
  const int tid = threadIdx.x, warpgroup = tid / 128;
  auto load_stage = [&](int stage, int k_tile) {
    unsigned char* tile = smem + stage * S::kStageBytes;
    load_a.load(reinterpret_cast<uint4*>(tile), k_tile, tid);
    load_b.load(reinterpret_cast<uint4*>(tile + S::kATileBytes), k_tile, tid);
  };
#pragma unroll
  for (int i = 0; i < N / 2; i++) acc[i] = 0.0f;

#pragma unroll
  for (int s = 0; s < kStages - 2; s++) {
    if (s < k_tiles) load_stage(s, s);
    mma::commit_async();  // empty groups too, so the wait count below stays exact
  }
  const uint32_t smem_base = mma::shared_address(smem);
  for (int kt = 0; kt < k_tiles; kt++) {
    mma::wait_async<kStages - 3>();  // tile kt has landed (this thread's copies)
    fence_async_shared();            // ... visible to the tensor cores' (async proxy) reads
    __syncthreads();                 // everyone's; and the batch that read tile kt - 2 is done
    const int next = kt + kStages - 2;
    if (next < k_tiles) load_stage(next % kStages, next);
    mma::commit_async();

    const uint32_t stage = smem_base + uint32_t((kt % kStages) * S::kStageBytes);
    mma_k_tile<N, T>(acc, stage + uint32_t(warpgroup * 64 * kRowBytes), stage + uint32_t(S::kATileBytes));
    wait<1>();  // the batch of tile kt - 1 is done: its stage may be refilled after the next barrier
  }
  wait<0>();
  fence_operands(acc);
  mma::wait_async<0>();
}
#endif  // DIT_WGMMA_AVAILABLE

}  // namespace dit::cuda::wgmma
