// Flash-style attention, O = softmax(scale * Q K^T) V, never materialising N x M. A block of 4
// warps owns 16 query rows (4 per warp) of one (b, h); key/value tiles of 32 rows are staged in
// shared memory as f32; lane j scores key j of the tile, the online softmax runs across the warp
// (max/sum by shuffles), and each lane accumulates the output dims d = lane + 32 i in registers.
// The head dim is a run-time value up to 128 (72 is computed as 72, not padded); the per-lane
// register count is the one compile-time switch below.
// Tensor cores (mma) for this kernel are the next step; this version is the exact reference path.
#include "backend.h"
#include "common.cuh"

namespace dit::cuda {

namespace {

constexpr int kWarps = 4, kRowsPerWarp = 4, kKeys = 32, kMaxHeadDim = 128;
constexpr int kRows = kWarps * kRowsPerWarp;

size_t shared_bytes(int64_t dh) { return size_t(kRows * dh + kKeys * (dh + 1) + kKeys * dh) * sizeof(float); }

template <typename T, int DPL>
__global__ void __launch_bounds__(kWarps * 32) attention_kernel(const AttentionParams p) {
  extern __shared__ float smem[];
  const int Dh = int(p.Dh);
  float* qs = smem;                  // [kRows][Dh], pre-scaled
  float* ks = qs + kRows * Dh;       // [kKeys][Dh + 1]
  float* vs = ks + kKeys * (Dh + 1); // [kKeys][Dh]
  const int64_t bh = blockIdx.y, b = bh / p.H, h = bh % p.H;
  const int64_t row0 = int64_t(blockIdx.x) * kRows;
  const T* q = static_cast<const T*>(p.q) + b * p.q_sb + h * p.q_sh;
  const T* k = static_cast<const T*>(p.k) + b * p.k_sb + h * p.k_sh;
  const T* v = static_cast<const T*>(p.v) + b * p.v_sb + h * p.v_sh;
  T* o = static_cast<T*>(p.o) + b * p.o_sb + h * p.o_sh;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;

  for (int i = threadIdx.x; i < kRows * Dh; i += blockDim.x) {
    const int64_t r = row0 + i / Dh;
    qs[i] = r < p.N ? to_f32(q[r * p.q_sn + i % Dh]) * p.scale : 0.0f;
  }
  float m[kRowsPerWarp], l[kRowsPerWarp], acc[kRowsPerWarp][DPL];
#pragma unroll
  for (int r = 0; r < kRowsPerWarp; r++) {
    m[r] = -INFINITY;
    l[r] = 0.0f;
#pragma unroll
    for (int i = 0; i < DPL; i++) acc[r][i] = 0.0f;
  }

  for (int64_t j0 = 0; j0 < p.M; j0 += kKeys) {
    const int kb = int(p.M - j0 < kKeys ? p.M - j0 : kKeys);
    __syncthreads();  // previous tile fully used (and qs written, on the first pass)
    for (int i = threadIdx.x; i < kKeys * Dh; i += blockDim.x) {
      const int j = i / Dh, d = i % Dh;
      ks[j * (Dh + 1) + d] = j < kb ? to_f32(k[(j0 + j) * p.k_sn + d]) : 0.0f;
      vs[j * Dh + d] = j < kb ? to_f32(v[(j0 + j) * p.v_sn + d]) : 0.0f;
    }
    __syncthreads();
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; r++) {
      const int local = warp * kRowsPerWarp + r;
      if (row0 + local >= p.N) continue;  // warp-uniform
      float s = -INFINITY;
      if (lane < kb) {
        s = 0.0f;
        const float* qr = qs + local * Dh;
        const float* kr = ks + lane * (Dh + 1);
        for (int d = 0; d < Dh; d++) s = fmaf(qr[d], kr[d], s);
      }
      const float m_new = fmaxf(m[r], warp_max(s));
      const float alpha = expf(m[r] - m_new);
      const float pj = lane < kb ? expf(s - m_new) : 0.0f;
      l[r] = l[r] * alpha + warp_sum(pj);
      m[r] = m_new;
#pragma unroll
      for (int i = 0; i < DPL; i++) acc[r][i] *= alpha;
      for (int j = 0; j < kb; j++) {
        const float pjj = __shfl_sync(0xffffffffu, pj, j);
#pragma unroll
        for (int i = 0; i < DPL; i++) {
          const int d = lane + 32 * i;
          if (d < Dh) acc[r][i] = fmaf(pjj, vs[j * Dh + d], acc[r][i]);
        }
      }
    }
  }
#pragma unroll
  for (int r = 0; r < kRowsPerWarp; r++) {
    const int64_t row = row0 + warp * kRowsPerWarp + r;
    if (row >= p.N) continue;
    const float inv = 1.0f / l[r];
#pragma unroll
    for (int i = 0; i < DPL; i++) {
      const int d = lane + 32 * i;
      if (d < Dh) o[row * p.o_sn + d] = from_f32<T>(acc[r][i] * inv);
    }
  }
}

template <typename T, int DPL>
void launch(const AttentionParams& p) {
  const size_t smem = shared_bytes(p.Dh);
  auto kernel = attention_kernel<T, DPL>;
  check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)), "attention smem");
  const dim3 grid(unsigned((p.N + kRows - 1) / kRows), unsigned(p.B * p.H));
  kernel<<<grid, kWarps * 32, smem, stream()>>>(p);
}

}  // namespace

bool attention_supports_head_dim(int64_t dh) { return dh >= 1 && dh <= kMaxHeadDim; }
const char* attention_head_dims() { return "1 to 128 (DiT uses 32, 64, 72, 80, 96, 128)"; }

void attention(const AttentionParams& p) {
  if (p.B == 0 || p.H == 0 || p.N == 0) return;
  if (!attention_supports_head_dim(p.Dh))
    throw std::invalid_argument("attention: head dim " + std::to_string(p.Dh) + " is not supported on CUDA; supported: " + attention_head_dims());
  dispatch(p.dtype, [&](auto tag) {
    using T = decltype(tag);
    // head-dim dispatch: output dims per lane, the only compile-time shape
    switch ((p.Dh + 31) / 32) {
      case 1: launch<T, 1>(p); break;
      case 2: launch<T, 2>(p); break;
      case 3: launch<T, 3>(p); break;
      default: launch<T, 4>(p); break;
    }
  });
  check_launch("attention");
}

}  // namespace dit::cuda
