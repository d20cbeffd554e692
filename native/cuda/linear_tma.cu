// The f16 / bf16 GEMM of the linear layers on Hopper with the bulk tensor copy engine (TMA) and
// warp specialisation (sm_90a). Persistent: one 384-thread block per SM computes 128 x 192 tiles of
// C = A W^T in turn (blockIdx.x, + gridDim.x, ...), its ring's k tiles counted across them, so the
// producer loads the next tile while the consumers store this one:
// - warpgroup 0 is the producer: one thread issues, per 64-deep K tile, two TMA loads (the A tile,
//   128 x 64, and the W tile, 192 x 64) into a 4-stage ring, both 128-byte swizzled as wgmma wants
//   them, completing on the stage's `full` mbarrier; it refills a stage once its `empty` mbarrier
//   says both consumers are done with it;
// - warpgroups 1 and 2 are the consumers: each owns 64 rows and issues 4 wgmma m64n192k16 per K
//   tile with 96 f32 accumulators per thread, keeps one batch in flight, and releases the stage of
//   the previous batch (one arrival per warp) when it has completed, and the tile's last once it
//   has waited for everything; then it puts its rows through the linear epilogue (bias,
//   activation, gated residual) into its own staging tile in shared memory, and one of its threads
//   stores that with TMA (wgmma_staged_epilogue.cuh): the stores run while the next tile's products
//   do. With the gated residual, the same thread loads the residual tile into the staging tile by
//   TMA at the start of the tile (its own `residual` mbarrier), under the tile's products.
// The producer runs on 40 registers, the consumers on 232 (setmaxnreg).
// N = 192 divides DiT-XL's widths (1152 = 6 x 192, 3456, 4608) with no partial tiles. Tails in M,
// N and K come in as zeros from TMA (its out-of-bounds fill), and TMA does not store them.
// Shared memory: the ring (4 x 40 KiB; it was 5 stages before the staging tiles) and the two
// staging tiles (2 x 24 KiB), 209 KiB.
// Needs: compute capability 9.0, the driver's cuTensorMapEncodeTiled (fetched through the runtime,
// so no libcuda link), A and W 16-byte aligned with K, lda, ldw multiples of 8 (checked in
// linear.cu for every tensor-core kernel; TMA itself would take any K), and C (and the residual)
// 16-byte aligned with ldc a multiple of 8, for its tensor map; otherwise linear.cu takes another
// kernel. The default GEMM on compute capability 9.0 (kernel_choice.h), verified on an H200 before
// the staged epilogue (2026-11-27); the staged epilogue is verified on the emulator only.
#include <cuda.h>

#include "linear_kernels.h"
#include "wgmma.cuh"
#include "wgmma_staged_epilogue.cuh"

namespace dit::cuda {

namespace {

constexpr int kBM = 128, kBN = 192, kBK = wgmma::kTileK, kConsumers = 2;
constexpr int kThreads = 128 * (1 + kConsumers);
// 384 threads get 168 registers each; the producer gives back all but 40 so that the consumers can
// hold 232 (128 x 40 + 256 x 232 = 64,512 of the SM's 65,536): the epilogue's loads then have
// registers to be in flight in beside the 96 accumulators, with no spill.
constexpr uint32_t kProducerRegisters = 40, kConsumerRegisters = 232;
static_assert(128 * kProducerRegisters + 128 * kConsumers * kConsumerRegisters <= 65536, "the SM's register file");
constexpr int kATileBytes = kBM * wgmma::kRowBytes;  // 16 KiB
constexpr int kWTileBytes = kBN * wgmma::kRowBytes;  // 24 KiB
constexpr int kStageBytes = kATileBytes + kWTileBytes;
constexpr int kStagingBytes = wgmma::staging_bytes<kBN>();  // a consumer's 64 x 192 outputs: 24 KiB
static_assert(kATileBytes % 1024 == 0 && kStageBytes % 1024 == 0 && kStagingBytes % 1024 == 0,
              "every tile starts on a swizzle-pattern boundary");
// The epilogue: through the staging tiles and TMA stores (TmaEpilogue::Staged, the default; the ring
// gives up a stage for them), or stored from registers (Registers: the kernel as it was before the
// twelfth session, kept by name, DIT_CUDA_GEMM=tma-registers, until a GPU has timed the two).
template <TmaEpilogue kEpilogue>
struct Layout {
  static constexpr bool kStaged = kEpilogue == TmaEpilogue::Staged;
  static constexpr int kStages = kStaged ? 4 : 5;
  // + alignment slack: 209 KiB staged, 201 KiB without
  static constexpr size_t kSharedBytes = size_t(kStages) * kStageBytes + (kStaged ? size_t(kConsumers) * kStagingBytes : 0) + 1024;
};
static_assert(wgmma::kStagingBoxColumns == kBK, "C's boxes are as wide as A's and W's (one 128-byte swizzle span)");

template <typename T, TmaEpilogue kEpilogue>
__global__ void __launch_bounds__(kThreads, 1)
    linear_tma_kernel(const __grid_constant__ CUtensorMap map_a, const __grid_constant__ CUtensorMap map_w,
                      const __grid_constant__ CUtensorMap map_c, const __grid_constant__ CUtensorMap map_residual, const LinearParams p) {
#ifdef DIT_WGMMA_AVAILABLE
  constexpr int kStages = Layout<kEpilogue>::kStages;
  constexpr bool kStaged = Layout<kEpilogue>::kStaged;
  extern __shared__ __align__(1024) unsigned char tma_smem_raw[];
  __shared__ __align__(8) uint64_t full[kStages], empty[kStages], residual_full[kConsumers];
  unsigned char* smem = wgmma::align_1024(tma_smem_raw);
  const int warpgroup = threadIdx.x / 128;
  const int k_tiles = int((p.K + kBK - 1) / kBK);
  const int n_blocks = int((p.N + kBN - 1) / kBN);
  const int tiles = int((p.M + kBM - 1) / kBM) * n_blocks;
  // this block's output tiles: blockIdx.x, + gridDim.x, ... in row-major order of tiles, so a wave
  // shares A's row blocks and all of W stays in L2
  auto tile_origin = [&](int tile, int64_t& m0, int64_t& n0) {
    m0 = int64_t(tile / n_blocks) * kBM;
    n0 = int64_t(tile % n_blocks) * kBN;
  };

  if (threadIdx.x == 0) {
    for (int s = 0; s < kStages; s++) {
      wgmma::barrier_init(&full[s], 1);                   // the producer's arrival (+ the bytes)
      wgmma::barrier_init(&empty[s], kConsumers * 4);     // one arrival per consumer warp
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
        int64_t m0, n0;
        tile_origin(tile, m0, n0);
        for (int kt = 0; kt < k_tiles; kt++, it++) {
          const int s = it % kStages, round = it / kStages;
          if (round > 0) wgmma::barrier_wait(&empty[s], uint32_t(round - 1) & 1);
          unsigned char* stage = smem + s * kStageBytes;
          wgmma::barrier_arrive_expect_bytes(&full[s], kStageBytes);
          wgmma::tma_load_2d(stage, &map_a, kt * kBK, int32_t(m0), &full[s]);
          wgmma::tma_load_2d(stage + kATileBytes, &map_w, kt * kBK, int32_t(n0), &full[s]);
        }
      }
    }
    return;  // the producer takes no part in the epilogue, and no block-wide barrier follows
  }

  wgmma::claim_registers<kConsumerRegisters>();
  const int consumer = warpgroup - 1;
  const bool warp_leader = (threadIdx.x & 31) == 0;
  const bool store_leader = threadIdx.x % 128 == 0;  // issues the warpgroup's TMA stores and waits for them
  const bool gated = p.gate != nullptr;
  const int named_barrier = 1 + consumer;  // the warpgroup's own (0 is __syncthreads')
  unsigned char* staging = smem + kStages * kStageBytes + consumer * kStagingBytes;
  const uint32_t smem_base = mma::shared_address(smem);
  float acc[kBN / 2];
  int it = 0;
  uint32_t residual_phase = 0;
  for (int tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
    int64_t m0, n0;
    tile_origin(tile, m0, n0);
    const int64_t m_base = m0 + consumer * 64;
    const bool rows_inside = kStaged && m_base < p.M;  // this warpgroup has rows to store (staged: the registers path checks each row)
    const int64_t boxes_inside = kStaged ? (p.N - n0 + wgmma::kStagingBoxColumns - 1) / wgmma::kStagingBoxColumns : 0;
    const int boxes = boxes_inside < kBN / wgmma::kStagingBoxColumns ? int(boxes_inside) : kBN / wgmma::kStagingBoxColumns;
#pragma unroll
    for (int i = 0; i < kBN / 2; i++) acc[i] = 0.0f;  // no wgmma in flight here
    for (int kt = 0; kt < k_tiles; kt++, it++) {
      const int s = it % kStages;
      wgmma::barrier_wait(&full[s], uint32_t(it / kStages) & 1);  // both tiles have landed
      const uint32_t sa = smem_base + uint32_t(s * kStageBytes + consumer * 64 * wgmma::kRowBytes);
      const uint32_t sw = smem_base + uint32_t(s * kStageBytes + kATileBytes);
      wgmma::mma_k_tile<kBN, T>(acc, sa, sw);
      if (kStaged && kt == 0 && gated && rows_inside && store_leader) {
        // the residual tile into the staging tile while the products run, once the last tile's
        // stores have read it
        wgmma::bulk_wait_read<0>();
        wgmma::barrier_arrive_expect_bytes(&residual_full[consumer], uint32_t(boxes * wgmma::kStagingBoxBytes));
        for (int b = 0; b < boxes; b++)
          wgmma::tma_load_2d(staging + b * wgmma::kStagingBoxBytes, &map_residual, int32_t(n0 + b * wgmma::kStagingBoxColumns),
                             int32_t(m_base), &residual_full[consumer]);
      }
      wgmma::wait<1>();  // the batch of k tile it - 1 has completed: its stage may be refilled
      if (kt > 0 && warp_leader) wgmma::barrier_arrive(&empty[(it - 1) % kStages]);
    }
    wgmma::wait<0>();
    wgmma::fence_operands(acc);
    if (warp_leader) wgmma::barrier_arrive(&empty[(it - 1) % kStages]);  // the tile's last stage
    if constexpr (!kStaged) {
      wgmma::store_accumulators<kBN, T>(p, acc, m_base, n0);  // (rows past M are not stored)
    } else {
      if (!rows_inside) continue;
      if (gated) {
        wgmma::barrier_wait(&residual_full[consumer], residual_phase);  // (the stores' reads were waited for first)
        residual_phase ^= 1;
      } else {
        if (store_leader) wgmma::bulk_wait_read<0>();  // the last tile's stores have read the staging tile
        wgmma::warpgroup_sync(named_barrier);
      }
      wgmma::stage_accumulators<kBN, T>(p, acc, staging, m_base, n0);
      wgmma::fence_async_shared();  // this thread's staging writes visible to the TMA engine
      wgmma::warpgroup_sync(named_barrier);
      if (store_leader) {
        for (int b = 0; b < boxes; b++)
          wgmma::tma_store_2d(&map_c, int32_t(n0 + b * wgmma::kStagingBoxColumns), int32_t(m_base), staging + b * wgmma::kStagingBoxBytes);
        wgmma::bulk_commit();
      }
    }
  }
  if (kStaged && store_leader) wgmma::bulk_wait<0>();  // the block's shared memory must outlive its stores' reads
#else
  (void)map_a;
  (void)map_w;
  (void)map_c;
  (void)map_residual;
  (void)p;
  __trap();  // built for another target: never launched there (linear_tma checks the device)
#endif
}

// cuTensorMapEncodeTiled, from the driver through the runtime (the addon links no libcuda);
// nullptr when the driver does not have it.
using EncodeTiled = CUresult (*)(CUtensorMap*, CUtensorMapDataType, cuuint32_t, void*, const cuuint64_t*, const cuuint64_t*,
                                 const cuuint32_t*, const cuuint32_t*, CUtensorMapInterleave, CUtensorMapSwizzle,
                                 CUtensorMapL2promotion, CUtensorMapFloatOOBfill);

EncodeTiled encode_tiled() {
  static const EncodeTiled fn = [] {
    void* f = nullptr;
    cudaDriverEntryPointQueryResult found{};
    if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &f, 12000, cudaEnableDefault, &found) != cudaSuccess ||
        found != cudaDriverEntryPointSuccess) {
      cudaGetLastError();
      return EncodeTiled(nullptr);
    }
    return reinterpret_cast<EncodeTiled>(f);
  }();
  return fn;
}

// A rows x columns matrix (row stride ld elements) in boxes of box_rows x 64 (128-byte rows),
// 128-byte swizzled, out-of-range elements read as zeros and not written. False when the driver
// refuses it (a base not 16-byte aligned, a row stride not a multiple of 16 bytes).
template <typename T>
bool encode_matrix(CUtensorMap* map, const void* base, int64_t rows, int64_t columns, int64_t ld, uint32_t box_rows) {
  const cuuint64_t dims[2] = {cuuint64_t(columns), cuuint64_t(rows)};
  const cuuint64_t strides[1] = {cuuint64_t(ld) * sizeof(T)};
  const cuuint32_t box[2] = {uint32_t(kBK), box_rows};
  const cuuint32_t element_strides[2] = {1, 1};
  const CUtensorMapDataType type = std::is_same_v<T, __half> ? CU_TENSOR_MAP_DATA_TYPE_FLOAT16 : CU_TENSOR_MAP_DATA_TYPE_BFLOAT16;
  return encode_tiled()(map, type, 2, const_cast<void*>(base), dims, strides, box, element_strides, CU_TENSOR_MAP_INTERLEAVE_NONE,
                        CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE) == CUDA_SUCCESS;
}

template <typename T, TmaEpilogue kEpilogue>
bool launch_tma(const LinearParams& p) {
  using L = Layout<kEpilogue>;
  // the dynamic ring (and staging) plus the static barriers (padded to 1 KiB)
  if (!hopper_fits(L::kSharedBytes + 1024) || !encode_tiled()) return false;
  // TMA coordinates are 32-bit and a dimension at most 2^32
  if (p.M <= 0 || p.N <= 0 || p.K <= 0 || p.M > INT32_MAX || p.N > INT32_MAX || p.K > INT32_MAX) return false;
  // tile indices are 32-bit, and a block's last step (tile += gridDim.x) must not wrap
  const int64_t sms = current_device().multiprocessors;
  const int64_t tiles = ((p.M + kBM - 1) / kBM) * ((p.N + kBN - 1) / kBN);
  if (tiles > INT32_MAX - sms) return false;
  alignas(64) CUtensorMap map_a, map_w, map_c, map_residual;
  if (!encode_matrix<T>(&map_a, p.a, p.M, p.K, p.lda, kBM) || !encode_matrix<T>(&map_w, p.w, p.N, p.K, p.ldw, kBN)) return false;
  map_c = map_residual = map_a;  // what the kernel does not read
  if (L::kStaged && !encode_matrix<T>(&map_c, p.c, p.M, p.N, p.ldc, 64)) return false;
  if (L::kStaged && p.gate && !encode_matrix<T>(&map_residual, p.residual, p.M, p.N, p.ldc, 64)) return false;
  constexpr auto kernel = linear_tma_kernel<T, kEpilogue>;
  allow_dynamic_shared<kernel>(L::kSharedBytes, "linear tma smem");
  // persistent: one block per SM (201-209 KiB of shared memory each), each looping over output tiles
  kernel<<<unsigned(tiles < sms ? tiles : sms), kThreads, L::kSharedBytes, stream()>>>(map_a, map_w, map_c, map_residual, p);
  return true;
}

}  // namespace

template <typename T>
bool linear_tma(const LinearParams& p, TmaEpilogue epilogue) {
  return epilogue == TmaEpilogue::Staged ? launch_tma<T, TmaEpilogue::Staged>(p) : launch_tma<T, TmaEpilogue::Registers>(p);
}

template bool linear_tma<__half>(const LinearParams&, TmaEpilogue);
template bool linear_tma<__nv_bfloat16>(const LinearParams&, TmaEpilogue);

}  // namespace dit::cuda
