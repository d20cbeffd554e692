// What the implicit-GEMM convolutions (conv3d_mma.cu on mma.sync, conv3d_wgmma.cu on Hopper's
// wgmma) share: out[b, co, pos] = sum_k W'[co, k] col[pos, k], where col is never stored: the B
// loader gathers each 16-byte chunk of it straight from the input into shared memory. For those
// chunks to be 16 contiguous bytes, K runs (kt, kh, kw, Cin) with Cin fastest over a channels-last
// copy of the input: small passes first, the weight [Cout, Cin, kt, kh, kw] -> [Cout, kt, kh, kw,
// Cin] once, and per batch element x CTHW -> THWC (one read and one write of it, through shared
// memory so both sides are coalesced). Padding (zeros in space; zeros or the replicated edge frame
// in time, front and back) is decided per chunk as it is gathered.
// Needs Cin a multiple of 8 (a chunk is 8 channels of one tap); conv3d.cu's im2col path takes the
// rest.
#pragma once
#include "gemm_mma.cuh"

namespace dit::cuda::conv {

// The layout passes (conv3d_layout.cu; their kernels live in that one translation unit, built for
// every architecture, so the sm_90a-only conv3d_wgmma.cu never carries a second copy of them):
// W [Cout][Cin][taps] -> W' [Cout][taps][Cin] into w_taps, and batch element b of x [C][T H W]
// -> [T H W][C] into x_cl.
void weight_taps_first(const Conv3dParams& p, void* w_taps);
void channels_last(const Conv3dParams& p, int64_t b, void* x_cl);

// Gathers the B tile (kRows rows laid out as Tile, gemm::MmaTile or wgmma::SwizzledTile): row r =
// output position n0 + r of batch b, 8 channels of one tap per chunk. Sizes are held as 32-bit
// values (implicit_gemm refuses inputs where they would not fit).
template <typename T, typename Tile, int kRows>
struct GatherLoader {
  static constexpr int kRowsPerThread = kRows * Tile::kChunksPerRow / gemm::kThreads;
  static_assert(kRowsPerThread * gemm::kThreads == kRows * Tile::kChunksPerRow, "whole rows per pass");
  const T* x;  // this batch's channels-last input [T][H][W][Cin]
  int cin, kh, kw, dt, dh, dw, t, h, w, k_total;
  bool replicate;
  int t_base[kRowsPerThread], h_base[kRowsPerThread], w_base[kRowsPerThread];  // this thread's rows: input coordinates of tap 0
  bool row_ok[kRowsPerThread];

  __device__ __forceinline__ GatherLoader(const Conv3dParams& p, const T* x_b, int64_t n0, int tid)
      : x(x_b), cin(int(p.Cin)), kh(int(p.kh)), kw(int(p.kw)), dt(int(p.dt)), dh(int(p.dh)), dw(int(p.dw)),
        t(int(p.T)), h(int(p.H)), w(int(p.W)), k_total(int(p.Cin * p.kt * p.kh * p.kw)), replicate(p.replicate_time) {
    const int64_t positions = p.To * p.Ho * p.Wo;
#pragma unroll
    for (int i = 0; i < kRowsPerThread; i++) {
      const int64_t n = n0 + gemm::row_of<Tile>(tid, i);
      row_ok[i] = n < positions;
      const int64_t to = n / (p.Ho * p.Wo), ho = (n / p.Wo) % p.Ho, wo = n % p.Wo;
      t_base[i] = int(to * p.st - p.pad_t_front);
      h_base[i] = int(ho * p.sh - p.pad_h);
      w_base[i] = int(wo * p.sw - p.pad_w);
    }
  }

  __device__ __forceinline__ void load(uint4* tile, int k_tile, int tid) const {
    const int chunk = gemm::chunk_of<Tile>(tid);
    const int k = k_tile * Tile::kDepth + chunk * 8;
    const int tap = k / cin, c = k - tap * cin;
    const int f = tap % kw, e = (tap / kw) % kh, a = tap / (kw * kh);
#pragma unroll
    for (int i = 0; i < kRowsPerThread; i++) {
      int ti = t_base[i] + a * dt;
      if (replicate) ti = ti < 0 ? 0 : (ti >= t ? t - 1 : ti);
      const int hi = h_base[i] + e * dh, wi = w_base[i] + f * dw;
      const bool ok = row_ok[i] && k < k_total && ti >= 0 && ti < t && hi >= 0 && hi < h && wi >= 0 && wi < w;
      const T* src = ok ? x + ((int64_t(ti) * h + hi) * w + wi) * cin + c : x;
      mma::copy16_async(tile + Tile::slot(gemm::row_of<Tile>(tid, i), chunk), src, ok);
    }
  }
};

// The epilogue: out_b[co, n], n + 1 = the accumulator pair plus the channel's bias.
template <typename T>
__device__ __forceinline__ void store_pair(const Conv3dParams& p, T* out_b, int64_t co, int64_t n, float v0, float v1) {
  const int64_t positions = p.To * p.Ho * p.Wo;
  if (co >= p.Cout || n >= positions) return;
  const float add = p.bias ? to_f32(static_cast<const T*>(p.bias)[co]) : 0.0f;
  gemm::store_pair(out_b + co * positions + n, n + 1 < positions, v0 + add, v1 + add);
}

// Runs an implicit-GEMM convolution whose blocks cover kBlockM output channels by kBlockN
// positions, kDepth of K per tile: false (nothing launched) when Cin is not a multiple of 8 or a
// size does not fit the gather's 32-bit coordinates or the grid. Else lays out the weight and, per
// batch element, the input, and calls launch(grid, b, x_channels_last, w_taps) to run the kernel.
template <typename T, int kBlockM, int kBlockN, int kDepth, typename Launch>
bool implicit_gemm(const Conv3dParams& p, Launch&& launch) {
  const int64_t positions = p.To * p.Ho * p.Wo, S = p.T * p.H * p.W, taps = p.kt * p.kh * p.kw;
  constexpr int64_t kInt = 0x7fffffff;
  if (p.Cin == 0 || S == 0 || p.Cin % 8 != 0 || (p.Cout + kBlockM - 1) / kBlockM > 65535 || (p.Cin + 31) / 32 > 65535 ||
      (positions + kBlockN - 1) / kBlockN > kInt || p.Cin * taps + kDepth > kInt ||
      p.T + p.kt * p.dt > kInt || p.H + p.kh * p.dh + p.pad_h > kInt || p.W + p.kw * p.dw + p.pad_w > kInt ||
      p.To * p.st + p.pad_t_front > kInt || p.Ho * p.sh > kInt || p.Wo * p.sw > kInt)
    return false;
  DeviceScratch w_taps(size_t(p.Cout * p.Cin * taps) * sizeof(T));
  weight_taps_first(p, w_taps.get());
  // one batch element at a time: the channels-last copy is the size of one input, not of the batch
  DeviceScratch x_cl(size_t(S * p.Cin) * sizeof(T));
  const dim3 grid(unsigned((positions + kBlockN - 1) / kBlockN), unsigned((p.Cout + kBlockM - 1) / kBlockM));
  for (int64_t b = 0; b < p.B; b++) {
    channels_last(p, b, x_cl.get());
    launch(grid, b, static_cast<const T*>(x_cl.get()), static_cast<const T*>(w_taps.get()));
    check_launch("conv3d");
  }
  return true;
}

}  // namespace dit::cuda::conv
