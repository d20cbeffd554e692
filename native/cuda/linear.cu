// linear / GEMM: C[m, n] = epilogue(sum_k A[m, k] W[n, k]), W in PyTorch's [N, K] layout.
// f16 / bf16: on compute capability 9.0 the persistent TMA kernel of linear_tma.cu (the default
// there, kernel_choice.h; DIT_CUDA_GEMM=wgmma tries linear_wgmma.cu's instead), else the pipelined
// mma.sync kernel of linear_mma.cu; when their alignment needs are not met
// (or DIT_CUDA_GEMM=wmma) a simple WMMA kernel (16x16x16, f32 accumulation): a 128-thread block
// computes a 64 x 64 tile, each warp 32 x 32, K in steps of 32 staged in shared memory. f32: exact SIMT
// FMAs (64 x 64 tile, 4 x 4 per thread), so the f32 path matches the CPU to ~1e-6.
// M <= 8 (adaLN and embedder linears, M = batch): a GEMV that streams W once, each warp a few
// output columns with all its loads of a K step in flight.
// The epilogue (bias, activation, gated residual x + gate * y, conversion) is shared.
#include <mma.h>

#include <algorithm>

#include "backend.h"
#include "common.cuh"
#include "kernel_choice.h"
#include "linear_epilogue.cuh"
#include "linear_kernels.h"

namespace dit::cuda {

namespace {

constexpr int kTile = 64;

// ---- f32: SIMT tiles
constexpr int kSimtK = 16;

__global__ void __launch_bounds__(256) gemm_f32_kernel(const LinearParams p) {
  __shared__ float as[kSimtK][kTile + 1];
  __shared__ float ws[kSimtK][kTile + 1];
  const float* a = static_cast<const float*>(p.a);
  const float* w = static_cast<const float*>(p.w);
  const int64_t m0 = int64_t(blockIdx.x) * kTile, n0 = int64_t(blockIdx.y) * kTile;  // M over x: no 65535 limit
  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
  float acc[4][4] = {};
  for (int64_t k0 = 0; k0 < p.K; k0 += kSimtK) {
    for (int i = threadIdx.x; i < kTile * kSimtK; i += 256) {
      const int r = i / kSimtK, kk = i % kSimtK;
      const int64_t m = m0 + r, n = n0 + r, k = k0 + kk;
      as[kk][r] = (m < p.M && k < p.K) ? a[m * p.lda + k] : 0.0f;
      ws[kk][r] = (n < p.N && k < p.K) ? w[n * p.ldw + k] : 0.0f;
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kSimtK; kk++) {
      float av[4], wv[4];
#pragma unroll
      for (int i = 0; i < 4; i++) {
        av[i] = as[kk][ty + 16 * i];
        wv[i] = ws[kk][tx + 16 * i];
      }
#pragma unroll
      for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 4; j++) acc[i][j] = fmaf(av[i], wv[j], acc[i][j]);
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 4; i++)
#pragma unroll
    for (int j = 0; j < 4; j++) {
      const int64_t m = m0 + ty + 16 * i, n = n0 + tx + 16 * j;
      if (m < p.M && n < p.N) store_out<float>(p, m, n, acc[i][j]);
    }
}

// ---- f16 / bf16: WMMA tensor cores
constexpr int kWmmaK = 32;
constexpr int kPad = 8;  // keeps 16-bit rows a multiple of 16 bytes and off the same banks

template <typename T>
__global__ void __launch_bounds__(128) gemm_wmma_kernel(const LinearParams p) {
  using namespace nvcuda;
  __shared__ __align__(32) T as[kTile][kWmmaK + kPad];
  __shared__ __align__(32) T ws[kTile][kWmmaK + kPad];
  __shared__ __align__(32) float cs[kTile][kTile + 4];
  const T* a = static_cast<const T*>(p.a);
  const T* w = static_cast<const T*>(p.w);
  const int64_t m0 = int64_t(blockIdx.x) * kTile, n0 = int64_t(blockIdx.y) * kTile;  // M over x: no 65535 limit
  const int warp = threadIdx.x / 32, wm = (warp / 2) * 32, wn = (warp % 2) * 32;
  wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[2][2];
#pragma unroll
  for (int i = 0; i < 2; i++)
#pragma unroll
    for (int j = 0; j < 2; j++) wmma::fill_fragment(acc[i][j], 0.0f);
  const T zero = from_f32<T>(0.0f);
  // 16-byte loads (8 elements along K) when rows are 16-byte aligned; element loads at the edges
  const bool vec_a = rows_are_16_byte_aligned<T>(a, p.lda);
  const bool vec_w = rows_are_16_byte_aligned<T>(w, p.ldw);
  for (int64_t k0 = 0; k0 < p.K; k0 += kWmmaK) {
    for (int i = threadIdx.x; i < kTile * (kWmmaK / 8); i += 128) {
      const int r = i / (kWmmaK / 8), kk = (i % (kWmmaK / 8)) * 8;
      const int64_t m = m0 + r, n = n0 + r, k = k0 + kk;
      if (vec_a && m < p.M && k + 8 <= p.K) {
        *reinterpret_cast<uint4*>(&as[r][kk]) = *reinterpret_cast<const uint4*>(a + m * p.lda + k);
      } else {
        for (int e = 0; e < 8; e++) as[r][kk + e] = (m < p.M && k + e < p.K) ? a[m * p.lda + k + e] : zero;
      }
      if (vec_w && n < p.N && k + 8 <= p.K) {
        *reinterpret_cast<uint4*>(&ws[r][kk]) = *reinterpret_cast<const uint4*>(w + n * p.ldw + k);
      } else {
        for (int e = 0; e < 8; e++) ws[r][kk + e] = (n < p.N && k + e < p.K) ? w[n * p.ldw + k + e] : zero;
      }
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kWmmaK; kk += 16) {
      wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> fa[2];
      wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::col_major> fb[2];
#pragma unroll
      for (int i = 0; i < 2; i++) wmma::load_matrix_sync(fa[i], &as[wm + 16 * i][kk], kWmmaK + kPad);
#pragma unroll
      for (int j = 0; j < 2; j++) wmma::load_matrix_sync(fb[j], &ws[wn + 16 * j][kk], kWmmaK + kPad);
#pragma unroll
      for (int i = 0; i < 2; i++)
#pragma unroll
        for (int j = 0; j < 2; j++) wmma::mma_sync(acc[i][j], fa[i], fb[j], acc[i][j]);
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 2; i++)
#pragma unroll
    for (int j = 0; j < 2; j++)
      wmma::store_matrix_sync(&cs[wm + 16 * i][wn + 16 * j], acc[i][j], kTile + 4, wmma::mem_row_major);
  __syncthreads();
  for (int i = threadIdx.x; i < kTile * kTile; i += 128) {
    const int r = i / kTile, c = i % kTile;
    const int64_t m = m0 + r, n = n0 + c;
    if (m < p.M && n < p.N) store_out<T>(p, m, n, cs[r][c]);
  }
}

// ---- small M (adaLN and the embedders: M = batch): W streamed once
constexpr int kSmallM = 8;

// Rows 16-byte aligned: a warp owns kGemvColumns output columns and, for each K step, issues all
// of its 16-byte W loads (kGemvUnroll chunks of each column a lane) before any product, so it
// keeps kGemvColumns * kGemvUnroll * 512 bytes in flight; A's chunk is loaded once for all the
// columns. One column and one chunk at a time, each load waited for before the next, held the
// adaLN GEMV at 74% of the copy rate (H200, BENCHMARKS.md).
constexpr int kGemvColumns = 4, kGemvUnroll = 2;

template <typename T>
__global__ void __launch_bounds__(256) gemv_vector_kernel(const LinearParams p) {
  constexpr int E = 16 / int(sizeof(T));  // elements per 16-byte load
  constexpr int64_t kStep = 32 * E;       // a warp's K span per chunk
  const int lane = threadIdx.x % 32;
  const int64_t n0 = (int64_t(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32) * kGemvColumns;
  if (n0 >= p.N) return;
  const T* a = static_cast<const T*>(p.a);
  const T* w = static_cast<const T*>(p.w);
  float acc[kSmallM][kGemvColumns] = {};
  for (int64_t k0 = int64_t(lane) * E; k0 < p.K; k0 += kStep * kGemvUnroll) {
    uint4 w_raw[kGemvUnroll][kGemvColumns];
#pragma unroll
    for (int u = 0; u < kGemvUnroll; u++)
#pragma unroll
      for (int c = 0; c < kGemvColumns; c++) {
        const int64_t k = k0 + u * kStep, n = n0 + c;
        w_raw[u][c] = k < p.K && n < p.N ? __ldg(reinterpret_cast<const uint4*>(w + n * p.ldw + k)) : make_uint4(0, 0, 0, 0);
      }
#pragma unroll
    for (int u = 0; u < kGemvUnroll; u++) {
      const int64_t k = k0 + u * kStep;
      if (k >= p.K) break;
#pragma unroll
      for (int m = 0; m < kSmallM; m++) {
        if (m >= p.M) break;
        const uint4 a_raw = *reinterpret_cast<const uint4*>(a + m * p.lda + k);
        const T* av = reinterpret_cast<const T*>(&a_raw);
#pragma unroll
        for (int c = 0; c < kGemvColumns; c++) {
          const T* wv = reinterpret_cast<const T*>(&w_raw[u][c]);
#pragma unroll
          for (int e = 0; e < E; e++) acc[m][c] = fmaf(to_f32(av[e]), to_f32(wv[e]), acc[m][c]);
        }
      }
    }
  }
#pragma unroll
  for (int m = 0; m < kSmallM; m++) {
    if (m >= p.M) break;
#pragma unroll
    for (int c = 0; c < kGemvColumns; c++) {
      const float v = warp_sum(acc[m][c]);
      if (lane == 0 && n0 + c < p.N) store_out<T>(p, m, n0 + c, v);
    }
  }
}

// Any alignment: one warp per output column, element by element.
template <typename T>
__global__ void gemv_scalar_kernel(const LinearParams p) {
  const int64_t n = int64_t(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (n >= p.N) return;
  const T* a = static_cast<const T*>(p.a);
  const T* w = static_cast<const T*>(p.w) + n * p.ldw;
  float acc[kSmallM] = {};
  for (int64_t k = lane; k < p.K; k += 32) {
    const float wk = to_f32(w[k]);
#pragma unroll
    for (int m = 0; m < kSmallM; m++)
      if (m < p.M) acc[m] = fmaf(to_f32(a[m * p.lda + k]), wk, acc[m]);
  }
#pragma unroll
  for (int m = 0; m < kSmallM; m++) {
    const float v = warp_sum(acc[m]);
    if (lane == 0 && m < p.M) store_out<T>(p, m, n, v);
  }
}

// The columns [n0, n0 + n) of a product as a product of their own: W's rows, C's, the bias's, the
// gate's and the residual's columns moved by n0 (the tile GEMMs put N tiles on grid y).
template <typename T>
LinearParams column_slice(const LinearParams& p, int64_t n0, int64_t n) {
  LinearParams s = p;
  s.N = n;
  s.w = static_cast<const T*>(p.w) + n0 * p.ldw;
  s.c = static_cast<T*>(p.c) + n0;
  if (p.bias) s.bias = static_cast<const T*>(p.bias) + n0;
  if (p.gate) s.gate = static_cast<const T*>(p.gate) + n0;
  if (p.residual) s.residual = static_cast<const T*>(p.residual) + n0;
  return s;
}

// Launches a 64 x 64-tile GEMM kernel (M tiles on x, N tiles on y) over column slices of at most
// grid y's limit of tiles (65535 on every GPU): a conv3d's im2col product has an output position a
// column (4M+ at 16 x 512 x 512). The limit is the device's, so the emulator can test the slices.
template <typename T, typename Launch>
void launch_tiles(const LinearParams& p, Launch launch) {
  const int64_t max_columns = int64_t(current_device().max_grid_y) * kTile;
  for (int64_t n0 = 0; n0 < p.N; n0 += max_columns) {
    const LinearParams s = column_slice<T>(p, n0, std::min(max_columns, p.N - n0));
    launch(dim3(unsigned((s.M + kTile - 1) / kTile), unsigned((s.N + kTile - 1) / kTile)), s);
  }
}

}  // namespace

void linear(const LinearParams& p) {
  if (p.M == 0 || p.N == 0) return;
  dispatch(p.dtype, [&](auto tag) {
    using T = decltype(tag);
    // rows of A and W readable 16 bytes at a time: the GEMV's vector path and every tensor-core
    // kernel (linear_kernels.h) need it; checked here once for all of them
    const bool rows16 = rows_are_16_byte_aligned<T>(p.a, p.K, p.lda) && rows_are_16_byte_aligned<T>(p.w, p.ldw);
    if (p.M <= kSmallM) {
      if (rows16) {
        gemv_vector_kernel<T><<<grid_for(p.N, 8 * kGemvColumns), 256, 0, stream()>>>(p);
      } else {
        gemv_scalar_kernel<T><<<grid_for(p.N, 8), 256, 0, stream()>>>(p);
      }
    } else {
      if constexpr (sizeof(T) == 4) {
        launch_tiles<T>(p, [](dim3 grid, const LinearParams& s) { gemm_f32_kernel<<<grid, 256, 0, stream()>>>(s); });
      } else {
        const GemmKernel kernel = gemm_kernel();
        const bool automatic = kernel == GemmKernel::Auto;
        const bool tma_named = kernel == GemmKernel::Tma || kernel == GemmKernel::TmaStaged;
        const bool staged = kernel == GemmKernel::TmaStaged || (automatic && kTmaStagedByDefault);
        if (rows16 && try_hopper(tma_named, automatic, kHopperGemmByDefault) &&
            linear_tma<T>(p, staged ? TmaEpilogue::Staged : TmaEpilogue::Registers))
          return;
        if (rows16 && kernel == GemmKernel::Wgmma && linear_wgmma<T>(p)) return;
        if (kernel == GemmKernel::Wmma || !rows16 || !linear_mma<T>(p))
          launch_tiles<T>(p, [](dim3 grid, const LinearParams& s) { gemm_wmma_kernel<T><<<grid, 128, 0, stream()>>>(s); });
      }
    }
  });
  check_launch("linear");
}

}  // namespace dit::cuda
