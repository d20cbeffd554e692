// Flash attention forward for f16 / bf16 on tensor cores through mma.sync (sm_80+), in the manner
// of FlashAttention-2: a block of 4 warps owns 64 or 128 query rows of one (b, h), 16 or 32 per
// warp (FlashLayout says which), and walks the keys in tiles of 64 or 32 that cp.async brings into
// a two-stage shared ring (the next tile loads while this one is used). Per tile each warp
// computes S = Q K^T (16 or 32 rows x the tile's keys) into registers, runs
// the online softmax there (row max / sum over the 4 lanes that share a row, exp2 with the scale
// folded in; positive scales only, the WMMA kernel takes the others), turns the S accumulators
// straight into the A fragments of P (rounded to the storage type, as flash attention does) and
// adds P V into the f32 output accumulators. Nothing N x M and
// no S or P ever reaches shared memory.
// The head dim D is a template parameter (16, 32, 40, 48, 64, 72, 80, 96, 128 are instantiated),
// computed exactly: the m16n8k16 steps cover 16 of D at a time and a last m16n8k8 step takes a
// remaining 8 (72 = 4 x 16 + 8, not padded to 80 or 96); P V produces D / 8 column tiles of 8.
// Shared rows are D / 8 chunks of 16 bytes, padded to an odd count so the 8 rows an ldmatrix
// phase reads land on 8 different bank groups.
// Needs D % 8 == 0, every row stride a multiple of 8 elements and 16-byte aligned Q, K, V (and
// 4-byte aligned O); attention.cu falls back to its WMMA kernel otherwise.
#include "attention_kernels.h"
#include "kernel_choice.h"
#include "mma.cuh"

namespace dit::cuda {

namespace {

constexpr int kWarps = 4;

// D: the head dim; kMTiles: 16-row query tiles per warp. Two tiles per warp halve the shared
// memory read per MMA (each K / V fragment feeds both), which is what bounds the one-tile kernel;
// they cost registers, so they come with key tiles of 32 instead of 64 (half the S registers)
// and only for head dims up to 80.
template <int D, int kMTiles>
struct FlashLayout {
  static constexpr int kKeys = kMTiles == 1 ? 64 : 32;   // keys per tile
  static constexpr int kKeyTiles8 = kKeys / 8;           // n8 tiles of S
  static_assert(D % 8 == 0 && D >= 8 && D <= 128, "head dim: a multiple of 8 up to 128");
  static constexpr int kChunks = D / 8;                   // 16-byte chunks of one row
  static constexpr int kStride = kChunks | 1;             // odd: conflict-free ldmatrix
  static constexpr int kRows = 16 * kWarps * kMTiles;     // query rows per block
  static constexpr int kTile = kKeys * kStride;           // chunks of one K or V tile
  static constexpr bool kTail = kChunks % 2 == 1;         // an m16n8k8 step for the last 8 of D
  static constexpr int kQFrags = kChunks / 2 > 0 ? kChunks / 2 : 1;  // (D = 8 has only the tail)
  static constexpr size_t kSharedBytes = size_t(kRows * kStride + 4 * kTile) * 16;  // Q, K x 2, V x 2
};

template <typename T, int D, int kMTiles>
__global__ void __launch_bounds__(kWarps * 32) flash_mma_kernel(const AttentionParams p, const float scale_log2) {
  using L = FlashLayout<D, kMTiles>;
  constexpr int kKeys = L::kKeys;
  extern __shared__ __align__(128) uint4 flash_smem[];
  uint4* q_tile = flash_smem;
  uint4* k_tiles = q_tile + L::kRows * L::kStride;  // stage s at + s * kTile
  uint4* v_tiles = k_tiles + 2 * L::kTile;

  const HeadOperands<T> head(p);
  if (head.past_end) return;
  const int64_t row0 = int64_t(blockIdx.x) * L::kRows;
  const T *q = head.q, *k = head.k, *v = head.v;
  T* o = head.o;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;

  // rows [first, first + rows) of src into a tile; rows at or past `limit` are zero-filled
  auto load_rows = [&](uint4* dst, const T* src, int64_t stride, int64_t first, int64_t limit, int rows) {
    for (int i = tid; i < rows * L::kChunks; i += kWarps * 32) {
      const int r = i / L::kChunks, c = i % L::kChunks;
      const bool ok = first + r < limit;
      mma::copy16_async(dst + r * L::kStride + c, ok ? src + (first + r) * stride + c * 8 : src, ok);
    }
  };

  const int key_tiles = int((p.M + kKeys - 1) / kKeys);
  load_rows(q_tile, q, p.q_sn, row0, p.N, L::kRows);
  load_rows(k_tiles, k, p.k_sn, 0, p.M, kKeys);
  load_rows(v_tiles, v, p.v_sn, 0, p.M, kKeys);
  mma::commit_async();

  uint32_t q_frag[kMTiles][L::kQFrags][4];
  uint32_t q_tail[kMTiles][2];
  float out[kMTiles][L::kChunks][4];
  // per m tile, this lane's two rows (lane / 4 and lane / 4 + 8): running max (log2 domain) and
  // this lane's part of the running sum
  float row_max[kMTiles][2], row_sum[kMTiles][2];
#pragma unroll
  for (int mt = 0; mt < kMTiles; mt++) {
#pragma unroll
    for (int c = 0; c < L::kChunks; c++)
#pragma unroll
      for (int e = 0; e < 4; e++) out[mt][c][e] = 0.0f;
#pragma unroll
    for (int hr = 0; hr < 2; hr++) {
      row_max[mt][hr] = -INFINITY;
      row_sum[mt][hr] = 0.0f;
    }
  }
  const int matrix = lane >> 3;

  for (int j = 0; j < key_tiles; j++) {
    const int stage = j & 1;
    if (j + 1 < key_tiles) {
      load_rows(k_tiles + (stage ^ 1) * L::kTile, k, p.k_sn, int64_t(j + 1) * kKeys, p.M, kKeys);
      load_rows(v_tiles + (stage ^ 1) * L::kTile, v, p.v_sn, int64_t(j + 1) * kKeys, p.M, kKeys);
    }
    mma::commit_async();
    mma::wait_async<1>();  // everything but the tile just requested has landed
    __syncthreads();

    if (j == 0) {
#pragma unroll
      for (int mt = 0; mt < kMTiles; mt++) {
        const uint4* q_rows = q_tile + ((warp * kMTiles + mt) * 16 + (lane & 15)) * L::kStride;
#pragma unroll
        for (int c2 = 0; c2 < L::kChunks / 2; c2++) mma::ldmatrix_x4(q_frag[mt][c2], q_rows + c2 * 2 + (lane >> 4));
        if constexpr (L::kTail) mma::ldmatrix_x2(q_tail[mt], q_rows + L::kChunks - 1);
      }
    }

    // S = Q K^T in tiles of 8 keys; key tiles 2 np and 2 np + 1 come from one ldmatrix
    const uint4* kt = k_tiles + stage * L::kTile;
    float s[kMTiles][L::kKeyTiles8][4];
#pragma unroll
    for (int mt = 0; mt < kMTiles; mt++)
#pragma unroll
      for (int n = 0; n < L::kKeyTiles8; n++)
#pragma unroll
        for (int e = 0; e < 4; e++) s[mt][n][e] = 0.0f;
#pragma unroll
    for (int c2 = 0; c2 < L::kChunks / 2; c2++)
#pragma unroll
      for (int np = 0; np < kKeys / 16; np++) {
        uint32_t r[4];
        mma::ldmatrix_x4(r, kt + (np * 16 + (matrix >> 1) * 8 + (lane & 7)) * L::kStride + c2 * 2 + (matrix & 1));
#pragma unroll
        for (int mt = 0; mt < kMTiles; mt++) {
          mma::mma_16x8x16<T>(s[mt][2 * np], q_frag[mt][c2], r[0], r[1]);
          mma::mma_16x8x16<T>(s[mt][2 * np + 1], q_frag[mt][c2], r[2], r[3]);
        }
      }
    if constexpr (L::kTail) {
#pragma unroll
      for (int np = 0; np < kKeys / 16; np++) {
        uint32_t r[2];
        mma::ldmatrix_x2(r, kt + (np * 16 + (lane & 15)) * L::kStride + L::kChunks - 1);
#pragma unroll
        for (int mt = 0; mt < kMTiles; mt++) {
          mma::mma_16x8x8<T>(s[mt][2 * np], q_tail[mt], r[0]);
          mma::mma_16x8x8<T>(s[mt][2 * np + 1], q_tail[mt], r[1]);
        }
      }
    }

    // mask keys past M: only the last tile has any
    const int64_t keys_left = p.M - int64_t(j) * kKeys;
    if (keys_left < kKeys) {
#pragma unroll
      for (int mt = 0; mt < kMTiles; mt++)
#pragma unroll
        for (int n = 0; n < L::kKeyTiles8; n++)
#pragma unroll
          for (int e = 0; e < 4; e++) {
            const int key = n * 8 + (lane & 3) * 2 + (e & 1);
            if (key >= keys_left) s[mt][n][e] = -INFINITY;
          }
    }

    // online softmax for the lane's rows; every tile holds at least one valid key. The scale is
    // positive (the host checks), so the max of the scaled scores is the scaled max of the raw
    // ones and each P is one FFMA and one exp2 on the SFU alone (the wgmma kernel's softmax,
    // 8% faster there on the H200)
#pragma unroll
    for (int mt = 0; mt < kMTiles; mt++)
#pragma unroll
      for (int hr = 0; hr < 2; hr++) {
        float tile_max = -INFINITY;
#pragma unroll
        for (int n = 0; n < L::kKeyTiles8; n++) tile_max = fmaxf(tile_max, fmaxf(s[mt][n][2 * hr], s[mt][n][2 * hr + 1]));
        tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, 1));
        tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, 2));
        const float new_max = fmaxf(row_max[mt][hr], tile_max * scale_log2);  // log2 domain
        const float alpha = mma::exp2_approx(row_max[mt][hr] - new_max);    // 0 on the first tile (-inf - finite)
        row_max[mt][hr] = new_max;
        float sum = 0.0f;
#pragma unroll
        for (int n = 0; n < L::kKeyTiles8; n++)
#pragma unroll
          for (int e = 2 * hr; e < 2 * hr + 2; e++) {
            s[mt][n][e] = mma::exp2_approx(fmaf(s[mt][n][e], scale_log2, -new_max));
            sum += s[mt][n][e];
          }
        row_sum[mt][hr] = row_sum[mt][hr] * alpha + sum;
#pragma unroll
        for (int c = 0; c < L::kChunks; c++) {
          out[mt][c][2 * hr] *= alpha;
          out[mt][c][2 * hr + 1] *= alpha;
        }
      }

    // O += P V: the S accumulators of key tiles 2 kk, 2 kk + 1 are the A fragment of keys 16 kk..
    const uint4* vt = v_tiles + stage * L::kTile;
#pragma unroll
    for (int kk = 0; kk < kKeys / 16; kk++) {
      uint32_t pa[kMTiles][4];
#pragma unroll
      for (int mt = 0; mt < kMTiles; mt++) {
        pa[mt][0] = mma::pack2<T>(s[mt][2 * kk][0], s[mt][2 * kk][1]);
        pa[mt][1] = mma::pack2<T>(s[mt][2 * kk][2], s[mt][2 * kk][3]);
        pa[mt][2] = mma::pack2<T>(s[mt][2 * kk + 1][0], s[mt][2 * kk + 1][1]);
        pa[mt][3] = mma::pack2<T>(s[mt][2 * kk + 1][2], s[mt][2 * kk + 1][3]);
      }
#pragma unroll
      for (int cp = 0; cp < L::kChunks / 2; cp++) {
        uint32_t r[4];
        mma::ldmatrix_x4_trans(r, vt + (kk * 16 + (matrix & 1) * 8 + (lane & 7)) * L::kStride + cp * 2 + (matrix >> 1));
#pragma unroll
        for (int mt = 0; mt < kMTiles; mt++) {
          mma::mma_16x8x16<T>(out[mt][2 * cp], pa[mt], r[0], r[1]);
          mma::mma_16x8x16<T>(out[mt][2 * cp + 1], pa[mt], r[2], r[3]);
        }
      }
      if constexpr (L::kTail) {
        uint32_t r[2];
        mma::ldmatrix_x2_trans(r, vt + (kk * 16 + (lane & 15)) * L::kStride + L::kChunks - 1);
#pragma unroll
        for (int mt = 0; mt < kMTiles; mt++) mma::mma_16x8x16<T>(out[mt][L::kChunks - 1], pa[mt], r[0], r[1]);
      }
    }
    __syncthreads();  // this stage is free for the load issued at the top of the next iteration
  }
  mma::wait_async<0>();

#pragma unroll
  for (int mt = 0; mt < kMTiles; mt++)
#pragma unroll
    for (int hr = 0; hr < 2; hr++) {
      float total = row_sum[mt][hr];
      total += __shfl_xor_sync(0xffffffffu, total, 1);
      total += __shfl_xor_sync(0xffffffffu, total, 2);
      const float inv = 1.0f / total;
      const int64_t row = row0 + (warp * kMTiles + mt) * 16 + (lane >> 2) + 8 * hr;
      if (row >= p.N) continue;
      T* orow = o + row * p.o_sn + (lane & 3) * 2;
#pragma unroll
      for (int c = 0; c < L::kChunks; c++)
        *reinterpret_cast<uint32_t*>(orow + c * 8) = mma::pack2<T>(out[mt][c][2 * hr] * inv, out[mt][c][2 * hr + 1] * inv);
    }
}

template <typename T, int D, int kMTiles>
bool launch_tiles(const AttentionParams& p) {
  using L = FlashLayout<D, kMTiles>;
  if (int(L::kSharedBytes) > max_shared_optin()) return false;
  constexpr auto kernel = flash_mma_kernel<T, D, kMTiles>;
  allow_dynamic_shared<kernel>(L::kSharedBytes, "attention smem");
  const dim3 grid = attention_grid((p.N + L::kRows - 1) / L::kRows, p.B * p.H);
  kernel<<<grid, kWarps * 32, L::kSharedBytes, stream()>>>(p, p.scale * 1.4426950408889634f);
  return true;
}

// two query tiles per warp up to D = 80 (register budget), unless DIT_CUDA_ATTENTION=mma16 asks
// for one (to compare the two)
template <typename T, int D>
bool launch(const AttentionParams& p) {
  const bool one_tile = attention_kernel() == AttentionKernel::Mma16;
  if constexpr (D <= 80) {
    if (!one_tile) return launch_tiles<T, D, 2>(p);
  }
  return launch_tiles<T, D, 1>(p);
}

}  // namespace

template <typename T>
bool attention_mma(const AttentionParams& p) {
  // a positive, finite scale (the softmax takes the max before scaling); attention.cu's WMMA
  // kernel takes the others
  if (!(p.scale > 0.0f && p.scale < INFINITY) || !attention_operands_fit_tensor_cores<T>(p)) return false;
  return dispatch_head_dim(p.Dh, [&](auto dim) { return launch<T, decltype(dim)::value>(p); });
}

template bool attention_mma<__half>(const AttentionParams&);
template bool attention_mma<__nv_bfloat16>(const AttentionParams&);

}  // namespace dit::cuda
