// 3-D convolution (and so causalConv3d) for f16 / bf16 on the persistent, warp-specialised TMA GEMM
// of tma_gemm.cuh (sm_90a): out[b, co, pos] = sum_k W'[co, k] col[pos, k] as in conv3d_implicit.cuh
// (K = taps x Cin, Cin fastest, over the channels-last copy of the input), but with col's tile
// loaded by the copy engine instead of gathered by the consumers' own threads: for a 64-deep K tile
// (one tap, 64 channels) and a tile of 128 output positions along one output row (or two rows of
// 64), the B tile is one box of a 4-D tensor map of the input [T][H][W][Cin], moved by the tap's
// offsets; TMA's zero fill is the zero padding in space and time, and the replicated time edge is
// the tap's frame index clamped before the copy. The A tile (128 output channels) is a box of the
// tap-first weight. The epilogue adds the channel's bias in the staging tile, and TMA stores it
// into a 4-D map of the output [Cout][To][Ho][Wo] (dropping what lies past Wo, Ho, Cout).
// Takes: stride 1, Cin a multiple of 64 (a K tile is one tap), Wo at least 64 and a multiple of 8,
// the output 16-byte aligned with Cout x positions a multiple of 8; conv3d.cu takes the wgmma or
// mma.sync kernel otherwise. Named by DIT_CUDA_CONV=tma until a GPU has verified and timed it
// (kernel_choice.h); verified on the emulator only.
#include <stdexcept>

#include "conv3d_implicit.cuh"
#include "conv3d_kernels.h"
#include "tma_gemm.cuh"
#include "tma_maps.h"

namespace dit::cuda {

namespace {

constexpr int kBN = 128;  // output positions a tile: one row of 128, or two rows of 64

template <typename T>
struct ConvProblem {
  using Element = T;
  static constexpr int kBN = dit::cuda::kBN;
  CUtensorMap map_w, map_x, map_out;
  const T* bias;
  int cout, cin_chunks, kh, kw, dt, dh, dw, pad_t, pad_h, pad_w, t_size, ho, wo;
  bool replicate;
  int row_width, rows, w_tiles, h_tiles, cout_blocks, tile_count, taps;  // a tile: `rows` output rows of `row_width`

#ifdef DIT_WGMMA_AVAILABLE
  // tile -> (output channel block, output frame, row block, column block), the channel block
  // fastest: the blocks of one input window run side by side
  struct Tile {
    int cb, to, h0, w0;
  };
  __device__ Tile at(int tile) const {
    Tile t;
    t.cb = tile % cout_blocks;
    int rest = tile / cout_blocks;
    t.w0 = (rest % w_tiles) * row_width;
    rest /= w_tiles;
    t.h0 = (rest % h_tiles) * rows;
    t.to = rest / h_tiles;
    return t;
  }
  __device__ int tiles() const { return tile_count; }
  __device__ int k_tiles() const { return taps * cin_chunks; }
  __device__ void load(int tile, int kt, unsigned char* a, unsigned char* b, uint64_t* bar) const {
    const Tile t = at(tile);
    const int tap = kt / cin_chunks, c0 = (kt - tap * cin_chunks) * tma_gemm::kBK;
    const int f = tap % kw, e = (tap / kw) % kh, a_tap = tap / (kw * kh);
    int ti = t.to - pad_t + a_tap * dt;
    if (replicate) ti = ti < 0 ? 0 : (ti >= t_size ? t_size - 1 : ti);
    wgmma::tma_load_2d(a, &map_w, kt * tma_gemm::kBK, t.cb * tma_gemm::kBM, bar);
    wgmma::tma_load_4d(b, &map_x, c0, t.w0 - pad_w + f * dw, t.h0 - pad_h + e * dh, ti, bar);
  }
  __device__ int co_base(int tile, int consumer) const { return at(tile).cb * tma_gemm::kBM + consumer * tma_gemm::kConsumerRows; }
  __device__ bool rows_inside(int tile, int consumer) const { return co_base(tile, consumer) < cout; }
  // staging box b (64 positions): which row of the tile, from which column
  __device__ int box_row(int b) const { return b * wgmma::kStagingBoxColumns / row_width; }
  __device__ int box_column(int b) const { return b * wgmma::kStagingBoxColumns % row_width; }
  __device__ int boxes(int tile) const {
    const Tile t = at(tile);  // box 0 is inside: the tile exists
    return t.h0 + box_row(1) < ho && t.w0 + box_column(1) < wo ? 2 : 1;
  }
  __device__ bool has_residual() const { return false; }
  __device__ void load_residual(int, int, unsigned char*, int, uint64_t*) const {}
  __device__ void stage(int tile, int consumer, const float (&acc)[kBN / 2], unsigned char* staging) const {
    const int c0 = co_base(tile, consumer);
    float add[2];
#pragma unroll
    for (int h = 0; h < 2; h++) {
      const int co = c0 + wgmma::accumulator_row(h) < cout ? c0 + wgmma::accumulator_row(h) : cout - 1;
      add[h] = bias ? to_f32(__ldg(bias + co)) : 0.0f;
    }
    wgmma::for_each_staged_column<kBN>(acc, staging, [&](int, auto&& rows_of) {
      rows_of([&](int h, float v0, float v1, uint32_t* slot) { *slot = mma::pack2<T>(v0 + add[h], v1 + add[h]); });
    });
  }
  __device__ void store_box(int tile, int consumer, int b, const unsigned char* box) const {
    const Tile t = at(tile);
    wgmma::tma_store_4d(&map_out, t.w0 + box_column(b), t.h0 + box_row(b), t.to, co_base(tile, consumer), box);
  }
#endif
};

template <typename T>
__global__ void __launch_bounds__(tma_gemm::kThreads, 1) conv3d_tma_kernel(const __grid_constant__ ConvProblem<T> problem) {
  extern __shared__ __align__(1024) unsigned char conv_tma_smem_raw[];
  tma_gemm::run<true>(problem, conv_tma_smem_raw);
}

template <typename T>
bool launch_conv_tma(const Conv3dParams& p) {
  using L = tma_gemm::Layout<kBN, true>;
  constexpr int64_t kInt = 0x7fffffff;
  const int64_t positions = p.To * p.Ho * p.Wo, taps = p.kt * p.kh * p.kw;
  if (!hopper_fits(L::kSharedBytes + 1024) || !tma::available()) return false;
  if (p.st != 1 || p.sh != 1 || p.sw != 1 || p.Cin % tma_gemm::kBK != 0 || p.Wo < kBN / 2 || p.Wo % 8 != 0 ||
      (p.Cout * positions) % 8 != 0 || reinterpret_cast<uintptr_t>(p.out) % 16 != 0 || p.Cout > kInt || taps * p.Cin > kInt)
    return false;
  ConvProblem<T> problem{};
  problem.bias = static_cast<const T*>(p.bias);
  problem.cout = int(p.Cout);
  problem.cin_chunks = int(p.Cin / tma_gemm::kBK);
  problem.kh = int(p.kh), problem.kw = int(p.kw), problem.dt = int(p.dt), problem.dh = int(p.dh), problem.dw = int(p.dw);
  problem.pad_t = int(p.pad_t_front), problem.pad_h = int(p.pad_h), problem.pad_w = int(p.pad_w);
  problem.t_size = int(p.T), problem.ho = int(p.Ho), problem.wo = int(p.Wo);
  problem.replicate = p.replicate_time;
  problem.row_width = p.Wo >= kBN ? kBN : kBN / 2;
  problem.rows = kBN / problem.row_width;
  problem.w_tiles = int((p.Wo + problem.row_width - 1) / problem.row_width);
  problem.h_tiles = int((p.Ho + problem.rows - 1) / problem.rows);
  problem.cout_blocks = int((p.Cout + tma_gemm::kBM - 1) / tma_gemm::kBM);
  problem.taps = int(taps);
  const int64_t tiles = int64_t(problem.cout_blocks) * p.To * problem.h_tiles * problem.w_tiles;
  unsigned blocks;
  if (!tma_gemm::persistent_grid(tiles, blocks)) return false;
  problem.tile_count = int(tiles);
  constexpr auto kernel = conv3d_tma_kernel<T>;
  const bool f16 = std::is_same_v<T, __half>;
  return conv::implicit_gemm<T, tma_gemm::kBM, kBN, tma_gemm::kBK>(p, [&](dim3, int64_t b, const T* x_cl, const T* w_taps) {
    // (a host call each, per batch element: the output's map moves with b)
    const int64_t w_dims[2] = {taps * p.Cin, p.Cout}, w_strides[2] = {1, taps * p.Cin};
    const uint32_t w_box[2] = {uint32_t(tma_gemm::kBK), uint32_t(tma_gemm::kBM)};
    const int64_t x_dims[4] = {p.Cin, p.W, p.H, p.T}, x_strides[4] = {1, p.Cin, p.W * p.Cin, p.H * p.W * p.Cin};
    const uint32_t x_box[4] = {uint32_t(tma_gemm::kBK), uint32_t(problem.row_width), uint32_t(problem.rows), 1};
    const int64_t out_dims[4] = {p.Wo, p.Ho, p.To, p.Cout}, out_strides[4] = {1, p.Wo, p.Ho * p.Wo, positions};
    const uint32_t out_box[4] = {uint32_t(wgmma::kStagingBoxColumns), 1, 1, uint32_t(tma_gemm::kConsumerRows)};
    T* out_b = static_cast<T*>(p.out) + b * p.Cout * positions;
    if (!tma::encode(&problem.map_w, f16, w_taps, 2, w_dims, w_strides, w_box) ||
        !tma::encode(&problem.map_x, f16, x_cl, 4, x_dims, x_strides, x_box) ||
        !tma::encode(&problem.map_out, f16, out_b, 4, out_dims, out_strides, out_box))
      throw std::runtime_error("conv3d tma: the driver refused a tensor map");  // checked above: not expected
    allow_dynamic_shared<kernel>(L::kSharedBytes, "conv3d tma smem");
    kernel<<<blocks, tma_gemm::kThreads, L::kSharedBytes, stream()>>>(problem);
  });
}

}  // namespace

template <typename T>
bool conv3d_tma(const Conv3dParams& p) {
  return launch_conv_tma<T>(p);
}

template bool conv3d_tma<__half>(const Conv3dParams&);
template bool conv3d_tma<__nv_bfloat16>(const Conv3dParams&);

}  // namespace dit::cuda
