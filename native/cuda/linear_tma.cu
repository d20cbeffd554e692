// The f16 / bf16 GEMM of the linear layers on Hopper (sm_90a): C = A W^T in 128 x 192 tiles on the
// persistent, warp-specialised TMA GEMM of tma_gemm.cuh (the producer's TMA loads into a ring,
// two consumer warpgroups of 96 accumulators a thread). 192 divides DiT-XL's widths (1152 =
// 6 x 192, 3456, 4608) with no partial tiles. Tails in M, N and K come in as zeros from TMA (its
// out-of-bounds fill), and TMA does not store them.
// The epilogue (bias, activation, the adaLN-Zero gated residual) is stored from registers
// (TmaEpilogue::Registers, 5 stages: the kernel verified and timed on an H200), or goes through
// the staging tiles and TMA stores (TmaEpilogue::Staged, 4 stages, DIT_CUDA_GEMM=tma-staged; with
// the gate, the residual tile is TMA-loaded into the staging tile first and replaced in place),
// the default once a GPU has verified and timed it (kernel_choice.h).
// Needs: compute capability 9.0, the driver's cuTensorMapEncodeTiled, A and W 16-byte aligned with
// K, lda, ldw multiples of 8 (checked in linear.cu for every tensor-core kernel; TMA itself would
// take any K), and, staged, C (and the residual) 16-byte aligned with ldc a multiple of 8, for
// their tensor maps; otherwise linear.cu takes another kernel. The default GEMM on compute
// capability 9.0 (kernel_choice.h); the staged epilogue is verified on the emulator only.
#include "linear_kernels.h"
#include "tma_gemm.cuh"
#include "tma_maps.h"

namespace dit::cuda {

namespace {

constexpr int kBN = 192;

// tma_gemm.cuh's problem: the tiles of C (blockIdx.x, + gridDim.x, ...) in groups of kGroupRows
// row blocks, each group column block by column block. A wave of 132 tiles then reads 8 of A's row
// blocks and ~17 of W's column blocks. In row-major order it read 1-3 row blocks and all of W,
// which for a W past L2's 50 MB (the 8192^3 peak product: 134 MB) came from DRAM again every
// wave. DiT-XL's W (8-11 MB) stays in L2 either way.
constexpr int kGroupRows = 8;

template <typename T>
struct LinearProblem {
  using Element = T;
  static constexpr int kBN = dit::cuda::kBN;
  CUtensorMap map_a, map_w, map_c, map_residual;  // map_c, map_residual: staged only
  LinearParams p;
  int m_blocks, n_blocks, tile_count;  // C's row blocks, column blocks, tiles

#ifdef DIT_WGMMA_AVAILABLE
  // the tile's (row block, column block): within its group (the last may have fewer rows),
  // row blocks vary fastest
  struct Block { int row, column; };
  __device__ Block block_of(int tile) const {
    const int group = tile / (kGroupRows * n_blocks), in_group = tile - group * kGroupRows * n_blocks;
    const int rows = min(kGroupRows, m_blocks - group * kGroupRows);
    return {group * kGroupRows + in_group % rows, in_group / rows};
  }
  __device__ int64_t m0(int tile) const { return int64_t(block_of(tile).row) * tma_gemm::kBM; }
  __device__ int64_t n0(int tile) const { return int64_t(block_of(tile).column) * kBN; }
  __device__ int64_t m_base(int tile, int consumer) const { return m0(tile) + consumer * tma_gemm::kConsumerRows; }

  __device__ int tiles() const { return tile_count; }
  __device__ int k_tiles() const { return int((p.K + tma_gemm::kBK - 1) / tma_gemm::kBK); }
  __device__ void load(int tile, int kt, unsigned char* a, unsigned char* w, uint64_t* bar) const {
    wgmma::tma_load_2d(a, &map_a, kt * tma_gemm::kBK, int32_t(m0(tile)), bar);
    wgmma::tma_load_2d(w, &map_w, kt * tma_gemm::kBK, int32_t(n0(tile)), bar);
  }
  __device__ bool rows_inside(int tile, int consumer) const { return m_base(tile, consumer) < p.M; }
  __device__ int boxes(int tile) const {
    const int64_t inside = (p.N - n0(tile) + wgmma::kStagingBoxColumns - 1) / wgmma::kStagingBoxColumns;
    return inside < kBN / wgmma::kStagingBoxColumns ? int(inside) : kBN / wgmma::kStagingBoxColumns;
  }
  __device__ bool has_residual() const { return p.gate != nullptr; }
  __device__ void load_residual(int tile, int consumer, unsigned char* staging, int boxes, uint64_t* bar) const {
    for (int b = 0; b < boxes; b++)
      wgmma::tma_load_2d(staging + b * wgmma::kStagingBoxBytes, &map_residual, int32_t(n0(tile) + b * wgmma::kStagingBoxColumns),
                         int32_t(m_base(tile, consumer)), bar);
  }
  __device__ void stage(int tile, int consumer, const float (&acc)[kBN / 2], unsigned char* staging) const {
    wgmma::stage_accumulators<kBN, T>(p, acc, staging, m_base(tile, consumer), n0(tile));
  }
  __device__ void store_box(int tile, int consumer, int b, const unsigned char* box) const {
    wgmma::tma_store_2d(&map_c, int32_t(n0(tile) + b * wgmma::kStagingBoxColumns), int32_t(m_base(tile, consumer)), box);
  }
  __device__ void store_registers(int tile, int consumer, float (&acc)[kBN / 2]) const {
    wgmma::store_accumulators<kBN, T>(p, acc, m_base(tile, consumer), n0(tile));  // (rows past M are not stored)
  }
#endif
};

template <typename T, bool kStaged>
__global__ void __launch_bounds__(tma_gemm::kThreads, 1) linear_tma_kernel(const __grid_constant__ LinearProblem<T> problem) {
  extern __shared__ __align__(1024) unsigned char tma_smem_raw[];
  tma_gemm::run<kStaged>(problem, tma_smem_raw);
}

// A rows x columns matrix (row stride ld elements) in boxes of box_rows x 64 (128-byte rows)
template <typename T>
bool encode_matrix(CUtensorMap* map, const void* base, int64_t rows, int64_t columns, int64_t ld, uint32_t box_rows) {
  const int64_t dims[2] = {columns, rows}, strides[2] = {1, ld};
  const uint32_t box[2] = {uint32_t(tma_gemm::kBK), box_rows};
  return tma::encode(map, std::is_same_v<T, __half>, base, 2, dims, strides, box);
}

template <typename T, bool kStaged>
bool launch_tma(const LinearParams& p) {
  using L = tma_gemm::Layout<kBN, kStaged>;
  // the dynamic ring (and staging) plus the static barriers (padded to 1 KiB)
  if (!hopper_fits(L::kSharedBytes + 1024) || !tma::available()) return false;
  // TMA coordinates are 32-bit and a dimension at most 2^32
  if (p.M <= 0 || p.N <= 0 || p.K <= 0 || p.M > INT32_MAX || p.N > INT32_MAX || p.K > INT32_MAX) return false;
  LinearProblem<T> problem{};
  problem.p = p;
  const int64_t m_blocks = (p.M + tma_gemm::kBM - 1) / tma_gemm::kBM, n_blocks = (p.N + kBN - 1) / kBN, tiles = m_blocks * n_blocks;
  unsigned blocks;
  if (!tma_gemm::persistent_grid(tiles, blocks)) return false;
  problem.m_blocks = int(m_blocks);
  problem.n_blocks = int(n_blocks);
  problem.tile_count = int(tiles);
  if (!encode_matrix<T>(&problem.map_a, p.a, p.M, p.K, p.lda, tma_gemm::kBM) || !encode_matrix<T>(&problem.map_w, p.w, p.N, p.K, p.ldw, kBN))
    return false;
  constexpr uint32_t kRows = tma_gemm::kConsumerRows;  // C's boxes: a staging tile's
  if (kStaged && !encode_matrix<T>(&problem.map_c, p.c, p.M, p.N, p.ldc, kRows)) return false;
  if (kStaged && p.gate && !encode_matrix<T>(&problem.map_residual, p.residual, p.M, p.N, p.ldc, kRows)) return false;
  constexpr auto kernel = linear_tma_kernel<T, kStaged>;
  allow_dynamic_shared<kernel>(L::kSharedBytes, "linear tma smem");
  // persistent: one block per SM (201-209 KiB of shared memory each), each looping over output tiles
  kernel<<<blocks, tma_gemm::kThreads, L::kSharedBytes, stream()>>>(problem);
  return true;
}

}  // namespace

template <typename T>
bool linear_tma(const LinearParams& p, TmaEpilogue epilogue) {
  return epilogue == TmaEpilogue::Staged ? launch_tma<T, true>(p) : launch_tma<T, false>(p);
}

template bool linear_tma<__half>(const LinearParams&, TmaEpilogue);
template bool linear_tma<__nv_bfloat16>(const LinearParams&, TmaEpilogue);

}  // namespace dit::cuda
