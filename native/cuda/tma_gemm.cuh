// The persistent, warp-specialised TMA GEMM of linear_tma.cu and conv3d_tma.cu (sm_90a): one
// 384-thread block per SM computes 128 x kBN tiles of C = A B^T in turn (blockIdx.x, + gridDim.x,
// ...), its ring's k tiles counted across them, so the producer loads the next tile while the
// consumers store this one:
// - warpgroup 0 is the producer: one thread asks the problem to load, per 64-deep K tile, the A
//   tile (128 x 64) and the B tile (kBN x 64) into a ring stage by TMA, both 128-byte swizzled as
//   wgmma wants them, completing on the stage's `full` mbarrier; it refills a stage once its
//   `empty` mbarrier says both consumers are done with it;
// - warpgroups 1 and 2 are the consumers: each owns 64 rows and issues 4 wgmma m64nkBNk16 per K
//   tile (kBN / 2 f32 accumulators a thread), keeps one batch in flight, and releases the stage of
//   the previous batch (one arrival per warp) when it has completed, and the tile's last once it
//   has waited for everything. Then, staged (the default), it puts its rows through the problem's
//   epilogue into its own staging tile in shared memory and one of its threads stores that by TMA
//   (wgmma_staged_epilogue.cuh): the stores run while the next tile's products do. With a
//   residual, the same thread TMA-loads the residual tile into the staging tile early in the
//   tile (its own `residual` mbarrier), under the tile's products. Not staged, the problem
//   stores the accumulators from registers.
// The producer runs on 40 registers, the consumers on 232 (setmaxnreg).
//
// A problem (LinearProblem, ConvProblem) says what the tiles are:
//   static constexpr int kBN;                      the B tile's rows (C's columns a tile)
//   int tiles() const; int k_tiles() const;
//   void load(tile, kt, a_dst, b_dst, bar) const;   the producer thread: both boxes, on bar
//   bool rows_inside(tile, consumer) const;        the warpgroup's 64 rows have any of C's
//   int boxes(tile) const;                         staging boxes (64 columns each) inside C
//   bool has_residual() const; void load_residual(tile, consumer, staging, boxes, bar) const;
//   void stage(tile, consumer, acc, staging) const; the epilogue into the staging tile
//   void store_box(tile, consumer, box, staging_box) const;  one TMA store
//   void store_registers(tile, consumer, acc) const;          the epilogue without staging
// Each kernel is a one-line __global__ wrapper in its own .cu (no kernel is defined in a header:
// ARCHITECTURE.md).
#pragma once
#include "wgmma.cuh"
#include "wgmma_staged_epilogue.cuh"

namespace dit::cuda::tma_gemm {

constexpr int kBM = 128, kBK = wgmma::kTileK, kConsumers = 2, kThreads = 128 * (1 + kConsumers);
constexpr int kConsumerRows = kBM / kConsumers;  // a consumer warpgroup's rows of a tile (wgmma's m64), and of its staging tile
// 384 threads get 168 registers each; the producer gives back all but 40 so that the consumers can
// hold 232 (128 x 40 + 256 x 232 = 64,512 of the SM's 65,536): the epilogue has registers beside
// the 96 accumulators of a 192-wide tile, with no spill.
constexpr uint32_t kProducerRegisters = 40, kConsumerRegisters = 232;
static_assert(128 * kProducerRegisters + 128 * kConsumers * kConsumerRegisters <= 65536, "the SM's register file");
constexpr int kATileBytes = kBM * wgmma::kRowBytes;  // 16 KiB
// An SM's 227 KiB less 1 KiB for the static barriers and 1 KiB of alignment slack
constexpr int kSharedBudget = 227 * 1024 - 2 * 1024;

// The ring and, staged, the two staging tiles: as many stages as fit, at most 6
template <int kBN, bool kStaged>
struct Layout {
  static constexpr int kStageBytes = kATileBytes + kBN * wgmma::kRowBytes;
  static constexpr int kStagingBytes = kStaged ? wgmma::staging_bytes<kBN>() : 0;  // a consumer's
  static constexpr int kFit = (kSharedBudget - kConsumers * kStagingBytes) / kStageBytes;
  static constexpr int kStages = kFit < 6 ? kFit : 6;
  static constexpr size_t kSharedBytes = size_t(kStages) * kStageBytes + size_t(kConsumers) * kStagingBytes + 1024;
  static_assert(kStages >= 3, "a ring deep enough to overlap loads");
  static_assert(kATileBytes % 1024 == 0 && kStageBytes % 1024 == 0 && kStagingBytes % 1024 == 0,
                "every tile starts on a swizzle-pattern boundary");
};

#ifdef DIT_WGMMA_AVAILABLE
// The kernel's body: `smem_raw` is Layout<Problem::kBN, kStaged>::kSharedBytes of dynamic shared memory.
template <bool kStaged, typename Problem>
__device__ __forceinline__ void run(const Problem& problem, unsigned char* smem_raw) {
  constexpr int kBN = Problem::kBN;
  using L = Layout<kBN, kStaged>;
  constexpr int kStages = L::kStages;
  __shared__ __align__(8) uint64_t full[kStages], empty[kStages], residual_full[kConsumers];
  unsigned char* smem = wgmma::align_1024(smem_raw);
  const int warpgroup = threadIdx.x / 128;
  const int tiles = problem.tiles(), k_tiles = problem.k_tiles();

  if (threadIdx.x == 0) {
    for (int s = 0; s < kStages; s++) {
      wgmma::barrier_init(&full[s], 1);                // the producer's arrival (+ the bytes)
      wgmma::barrier_init(&empty[s], kConsumers * 4);  // one arrival per consumer warp
    }
    for (int c = 0; c < kConsumers; c++) wgmma::barrier_init(&residual_full[c], 1);
    wgmma::barrier_init_fence();
  }
  __syncthreads();

  // The ring's k tiles are counted across the block's output tiles (it), so the producer runs on
  // into the next output tile while the consumers store this one.
  if (warpgroup == 0) {
    wgmma::release_registers<kProducerRegisters>();  // the whole warpgroup, before thread 0 goes on
    if (threadIdx.x == 0) {
      int it = 0;
      for (int tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
        for (int kt = 0; kt < k_tiles; kt++, it++) {
          const int s = it % kStages, round = it / kStages;
          if (round > 0) wgmma::barrier_wait(&empty[s], uint32_t(round - 1) & 1);
          unsigned char* stage = smem + s * L::kStageBytes;
          wgmma::barrier_arrive_expect_bytes(&full[s], L::kStageBytes);
          problem.load(tile, kt, stage, stage + kATileBytes, &full[s]);
        }
      }
    }
    return;  // the producer takes no part in the epilogue, and no block-wide barrier follows
  }

  wgmma::claim_registers<kConsumerRegisters>();
  const int consumer = warpgroup - 1;
  const bool warp_leader = (threadIdx.x & 31) == 0;
  const bool store_leader = threadIdx.x % 128 == 0;  // issues the warpgroup's TMA stores and waits for them
  const bool residual = kStaged && problem.has_residual();
  const int named_barrier = 1 + consumer;  // the warpgroup's own (0 is __syncthreads')
  unsigned char* staging = smem + kStages * L::kStageBytes + consumer * L::kStagingBytes;
  const uint32_t smem_base = mma::shared_address(smem);
  float acc[kBN / 2];
  int it = 0;
  uint32_t residual_phase = 0;
  // The residual load waits for the last tile's stores to have read the staging tile (the leader's
  // whole warpgroup waits with it at its next wgmma): two k tiles in, they have.
  const int residual_kt = k_tiles > 2 ? 2 : k_tiles - 1;
  for (int tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
    // (the registers path checks its rows itself)
    const bool rows_inside = kStaged && problem.rows_inside(tile, consumer);
    const int boxes = kStaged ? problem.boxes(tile) : 0;
#pragma unroll
    for (int i = 0; i < kBN / 2; i++) acc[i] = 0.0f;  // no wgmma in flight here
    for (int kt = 0; kt < k_tiles; kt++, it++) {
      const int s = it % kStages;
      wgmma::barrier_wait(&full[s], uint32_t(it / kStages) & 1);  // both tiles have landed
      const uint32_t sa = smem_base + uint32_t(s * L::kStageBytes + consumer * kConsumerRows * wgmma::kRowBytes);
      const uint32_t sb = smem_base + uint32_t(s * L::kStageBytes + kATileBytes);
      wgmma::mma_k_tile<kBN, typename Problem::Element>(acc, sa, sb);
      if (residual && kt == residual_kt && rows_inside && store_leader) {
        // the residual tile into the staging tile while the products run, once the last tile's
        // stores have read it
        wgmma::bulk_wait_read<0>();
        wgmma::barrier_arrive_expect_bytes(&residual_full[consumer], uint32_t(boxes * wgmma::kStagingBoxBytes));
        problem.load_residual(tile, consumer, staging, boxes, &residual_full[consumer]);
      }
      wgmma::wait<1>();  // the batch of k tile it - 1 has completed: its stage may be refilled
      if (kt > 0 && warp_leader) wgmma::barrier_arrive(&empty[(it - 1) % kStages]);
    }
    wgmma::wait<0>();
    wgmma::fence_operands(acc);
    if (warp_leader) wgmma::barrier_arrive(&empty[(it - 1) % kStages]);  // the tile's last stage
    if constexpr (!kStaged) {
      problem.store_registers(tile, consumer, acc);
    } else {
      if (!rows_inside) continue;
      if (residual) {
        wgmma::barrier_wait(&residual_full[consumer], residual_phase);  // (the stores' reads were waited for first)
        residual_phase ^= 1;
      } else {
        if (store_leader) wgmma::bulk_wait_read<0>();  // the last tile's stores have read the staging tile
        wgmma::warpgroup_sync(named_barrier);
      }
      problem.stage(tile, consumer, acc, staging);
      wgmma::fence_async_shared();  // this thread's staging writes visible to the TMA engine
      wgmma::warpgroup_sync(named_barrier);
      if (store_leader) {
        for (int b = 0; b < boxes; b++) problem.store_box(tile, consumer, b, staging + b * wgmma::kStagingBoxBytes);
        wgmma::bulk_commit();
      }
    }
  }
  if (kStaged && store_leader) wgmma::bulk_wait<0>();  // the block's shared memory must outlive its stores' reads
}
#else
template <bool kStaged, typename Problem>
__device__ __forceinline__ void run(const Problem&, unsigned char*) {
  __trap();  // built for another target: never launched there (the launchers check the device)
}
#endif  // DIT_WGMMA_AVAILABLE

// The persistent grid: one block per SM, at most one per tile. False when the tiles do not fit
// 32-bit tile indices (a block's last step, tile += gridDim.x, must not wrap).
inline bool persistent_grid(int64_t tiles, unsigned& blocks) {
  const int64_t sms = current_device().multiprocessors;
  if (tiles <= 0 || tiles > INT32_MAX - sms) return false;
  blocks = unsigned(tiles < sms ? tiles : sms);
  return true;
}

}  // namespace dit::cuda::tma_gemm
