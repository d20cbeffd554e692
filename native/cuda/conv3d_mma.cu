// 3-D convolution (and so causalConv3d) for f16 / bf16 as an implicit GEMM on tensor cores: the
// shared mma.sync main loop (gemm_mma.cuh) with out[b, co, pos] = sum_k W'[co, k] col[pos, k],
// where col is never stored: the B loader gathers each 16-byte chunk of it straight from the input
// into shared memory. For those chunks to be 16 contiguous bytes, K runs (kt, kh, kw, Cin) with
// Cin fastest over a channels-last copy of the input: small passes first, the weight
// [Cout, Cin, kt, kh, kw] -> [Cout, kt, kh, kw, Cin] once, and per batch element x CTHW -> THWC
// (one read and one write of it, through shared memory so both sides are coalesced). Padding (zeros in space; zeros or
// the replicated edge frame in time, front and back) is decided per chunk as it is gathered.
// Needs Cin a multiple of 8 (a chunk is 8 channels of one tap); conv3d.cu's im2col path takes the
// rest.
#include "conv3d_kernels.h"
#include "gemm_mma.cuh"

namespace dit::cuda {

namespace {

// in [C][S] -> out [S][C], in 32 x 32 tiles through shared memory
template <typename T>
__global__ void channels_last_kernel(const T* src, T* dst, int64_t C, int64_t S) {
  __shared__ T tile[32][33];
  const int64_t c0 = int64_t(blockIdx.y) * 32, s0 = int64_t(blockIdx.x) * 32;
  for (int i = threadIdx.y; i < 32; i += blockDim.y) {
    const int64_t c = c0 + i, s = s0 + threadIdx.x;
    if (c < C && s < S) tile[i][threadIdx.x] = src[c * S + s];
  }
  __syncthreads();
  for (int i = threadIdx.y; i < 32; i += blockDim.y) {
    const int64_t s = s0 + i, c = c0 + threadIdx.x;
    if (c < C && s < S) dst[s * C + c] = tile[threadIdx.x][i];
  }
}

// W [Cout][Cin][taps] -> W' [Cout][taps][Cin]
template <typename T>
__global__ void weight_taps_first_kernel(const T* w, T* out, int64_t cout, int64_t cin, int64_t taps) {
  const int64_t n = cout * cin * taps;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t c = i % cin, tap = (i / cin) % taps, co = i / (cin * taps);
    out[i] = w[(co * cin + c) * taps + tap];
  }
}

// Gathers the B tile: row r = output position n0 + r of batch b, 8 channels of one tap per chunk.
// Sizes are held as 32-bit values (conv3d_mma refuses inputs where they would not fit).
template <typename T>
struct ConvGatherLoader {
  const T* x;  // this batch's channels-last input [T][H][W][Cin]
  int cin, kh, kw, dt, dh, dw, t, h, w, k_total;
  bool replicate;
  int t_base[2], h_base[2], w_base[2];  // this thread's two rows: input coordinates of tap 0
  bool row_ok[2];

  __device__ __forceinline__ ConvGatherLoader(const Conv3dParams& p, const T* x_b, int64_t n0, int tid)
      : x(x_b), cin(int(p.Cin)), kh(int(p.kh)), kw(int(p.kw)), dt(int(p.dt)), dh(int(p.dh)), dw(int(p.dw)),
        t(int(p.T)), h(int(p.H)), w(int(p.W)), k_total(int(p.Cin * p.kt * p.kh * p.kw)), replicate(p.replicate_time) {
    const int64_t positions = p.To * p.Ho * p.Wo;
#pragma unroll
    for (int i = 0; i < 2; i++) {
      const int64_t n = n0 + gemm::row_of(tid, i);
      row_ok[i] = n < positions;
      const int64_t to = n / (p.Ho * p.Wo), ho = (n / p.Wo) % p.Ho, wo = n % p.Wo;
      t_base[i] = int(to * p.st - p.pad_t_front);
      h_base[i] = int(ho * p.sh - p.pad_h);
      w_base[i] = int(wo * p.sw - p.pad_w);
    }
  }

  __device__ __forceinline__ void load(uint4* tile, int k_tile, int tid) const {
    const int chunk = gemm::chunk_of(tid);
    const int k = k_tile * gemm::kBlockK + chunk * 8;
    const int tap = k / cin, c = k - tap * cin;
    const int f = tap % kw, e = (tap / kw) % kh, a = tap / (kw * kh);
#pragma unroll
    for (int i = 0; i < 2; i++) {
      int ti = t_base[i] + a * dt;
      if (replicate) ti = ti < 0 ? 0 : (ti >= t ? t - 1 : ti);
      const int hi = h_base[i] + e * dh, wi = w_base[i] + f * dw;
      const bool ok = row_ok[i] && k < k_total && ti >= 0 && ti < t && hi >= 0 && hi < h && wi >= 0 && wi < w;
      const T* src = ok ? x + ((int64_t(ti) * h + hi) * w + wi) * cin + c : x;
      mma::copy16_async(tile + gemm::swizzled(gemm::row_of(tid, i), chunk), src, ok);
    }
  }
};

constexpr int kBN = 128;  // output positions per block (the gather loader copies 128 rows)

template <typename T>
__global__ void __launch_bounds__(gemm::kThreads, 2) conv3d_mma_kernel(const Conv3dParams p, const int64_t b, const T* x_cl,
                                                                       const T* w_taps) {
  extern __shared__ __align__(128) uint4 conv_smem[];
  const int64_t positions = p.To * p.Ho * p.Wo, K = p.Cin * p.kt * p.kh * p.kw;
  const int64_t m0 = int64_t(blockIdx.y) * gemm::kBlockM, n0 = int64_t(blockIdx.x) * kBN;
  const gemm::RowLoader<T> load_w{w_taps, K, p.Cout, K, m0};
  const ConvGatherLoader<T> load_x(p, x_cl, n0, threadIdx.x);
  float acc[4][kBN / 32][4];
  gemm::mainloop<T, kBN>(acc, load_w, load_x, int((K + gemm::kBlockK - 1) / gemm::kBlockK), conv_smem);
  T* out = static_cast<T*>(p.out) + b * p.Cout * positions;
  const T* bias = static_cast<const T*>(p.bias);
  gemm::for_each_pair<kBN>(acc, [&](int mi, int ni, float v0, float v1) {
    const int64_t co = m0 + mi, n = n0 + ni;
    if (co >= p.Cout || n >= positions) return;
    const float add = bias ? to_f32(bias[co]) : 0.0f;
    gemm::store_pair(out + co * positions + n, n + 1 < positions, v0 + add, v1 + add);
  });
}

}  // namespace

template <typename T>
bool conv3d_mma(const Conv3dParams& p) {
  const int64_t positions = p.To * p.Ho * p.Wo, S = p.T * p.H * p.W, taps = p.kt * p.kh * p.kw;
  constexpr int64_t kInt = 0x7fffffff;  // the gather loader's coordinates are 32-bit
  if (p.Cin == 0 || S == 0 || p.Cin % 8 != 0 || (p.Cout + gemm::kBlockM - 1) / gemm::kBlockM > 65535 || (p.Cin + 31) / 32 > 65535 ||
      (positions + kBN - 1) / kBN > kInt || p.Cin * taps + gemm::kBlockK > kInt ||
      p.T + p.kt * p.dt > kInt || p.H + p.kh * p.dh + p.pad_h > kInt || p.W + p.kw * p.dw + p.pad_w > kInt ||
      p.To * p.st + p.pad_t_front > kInt || p.Ho * p.sh > kInt || p.Wo * p.sw > kInt)
    return false;
  DeviceScratch w_taps(size_t(p.Cout * p.Cin * taps) * sizeof(T));
  weight_taps_first_kernel<T><<<grid_for(p.Cout * p.Cin * taps, 256), 256, 0, stream()>>>(
      static_cast<const T*>(p.weight), static_cast<T*>(w_taps.get()), p.Cout, p.Cin, taps);
  check_launch("conv3d weight layout");
  auto kernel = conv3d_mma_kernel<T>;
  static const bool configured =
      (check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(gemm::Shape<kBN>::kSharedBytes)), "conv3d smem"), true);
  (void)configured;
  // one batch element at a time: the channels-last copy is the size of one input, not of the batch
  DeviceScratch x_cl(size_t(S * p.Cin) * sizeof(T));
  for (int64_t b = 0; b < p.B; b++) {
    channels_last_kernel<T><<<dim3(unsigned((S + 31) / 32), unsigned((p.Cin + 31) / 32), 1), dim3(32, 8), 0, stream()>>>(
        static_cast<const T*>(p.x) + b * p.Cin * S, static_cast<T*>(x_cl.get()), p.Cin, S);
    check_launch("conv3d channels-last");
    const dim3 grid(unsigned((positions + kBN - 1) / kBN), unsigned((p.Cout + gemm::kBlockM - 1) / gemm::kBlockM));
    kernel<<<grid, gemm::kThreads, gemm::Shape<kBN>::kSharedBytes, stream()>>>(p, b, static_cast<const T*>(x_cl.get()),
                                                                   static_cast<const T*>(w_taps.get()));
    check_launch("conv3d");
  }
  return true;
}

template bool conv3d_mma<__half>(const Conv3dParams&);
template bool conv3d_mma<__nv_bfloat16>(const Conv3dParams&);

}  // namespace dit::cuda
