// Flash-style attention, O = softmax(scale * Q K^T) V, never materialising N x M. A block of 4
// warps owns 16 query rows (4 per warp) of one (b, h); key/value tiles of 32 rows are staged in
// shared memory as f32; lane j scores key j of the tile, the online softmax runs across the warp
// (max/sum by shuffles), and each lane accumulates the output dims d = lane + 32 i in registers.
// The head dim is a run-time value up to 256 (72 is computed as 72, not padded); the per-lane
// register count is the one compile-time switch below. Head dims over 128 (no DiT has them, but a
// config may) take this kernel in every dtype. This SIMT kernel is the f32 path and the
// reference. f16/bf16 take the mma.sync kernel of attention_mma.cu when the head dim is a multiple
// of 8 and the rows are 16-byte aligned, else the WMMA kernel further down; DIT_CUDA_ATTENTION=wmma
// or =simt forces those (for comparisons and tests). On compute capability 9.0 the Hopper kernel of
// attention_wgmma.cu is tried first (the default there since the H200 session; kernel_choice.h).
#include <mma.h>

#include "attention_kernels.h"
#include "backend.h"
#include "common.cuh"
#include "kernel_choice.h"

namespace dit::cuda {

namespace {

constexpr int kWarps = 4, kRowsPerWarp = 4, kKeys = 32, kMaxHeadDim = 256;
constexpr int kRows = kWarps * kRowsPerWarp;

size_t shared_bytes(int64_t dh) { return size_t(kRows * dh + kKeys * (dh + 1) + kKeys * dh) * sizeof(float); }

template <typename T, int DPL>
__global__ void __launch_bounds__(kWarps * 32) attention_kernel(const AttentionParams p) {
  extern __shared__ float smem[];
  const int Dh = int(p.Dh);
  float* qs = smem;                  // [kRows][Dh], pre-scaled
  float* ks = qs + kRows * Dh;       // [kKeys][Dh + 1]
  float* vs = ks + kKeys * (Dh + 1); // [kKeys][Dh]
  const HeadOperands<T> head(p);
  if (head.past_end) return;
  const int64_t row0 = int64_t(blockIdx.x) * kRows;
  const T *q = head.q, *k = head.k, *v = head.v;
  T* o = head.o;
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
  constexpr auto kernel = attention_kernel<T, DPL>;
  // the largest this instantiation ever needs (Dh = 32 DPL: 82 KiB at 256, within every supported
  // GPU's opt-in limit), set once
  allow_dynamic_shared<kernel>(shared_bytes(32 * DPL), "attention smem");
  const dim3 grid = attention_grid((p.N + kRows - 1) / kRows, p.B * p.H);
  kernel<<<grid, kWarps * 32, smem, stream()>>>(p);
}

// ---- f16 / bf16: tensor cores (WMMA 16x16x16, f32 accumulation)
// A block of 4 warps owns 64 query rows (16 per warp) of one (b, h) and walks the keys in tiles of
// 64: S = Q K^T per warp into shared memory, the online softmax row by row across the warp (P is
// rounded to the storage type, as flash attention does), P V on the tensor cores, and the f32
// output rows rescaled and accumulated in shared memory. The head dim is padded only to the next
// multiple of 16 (72 -> 80), not to a power of two.
constexpr int kTcRows = 64, kTcKeys = 64;

template <int DP>
struct TcLayout {
  static constexpr int ldq = DP + 8;                             // T, Q/K/V tiles
  static constexpr int ldx = (kTcKeys + 4) > (DP + 4) ? (kTcKeys + 4) : (DP + 4);  // f32, S then P.V
  static constexpr int ldp = kTcKeys + 8;                        // T, P
  static constexpr int ldo = DP + 4;                             // f32, O
  template <typename T>
  static constexpr size_t bytes() {
    return size_t(3 * kTcRows * ldq) * sizeof(T) + size_t(kTcRows * ldx) * 4 + size_t(kTcRows * ldp) * sizeof(T) +
           size_t(kTcRows * ldo) * 4 + 3 * kTcRows * 4;
  }
};

template <typename T, int DP>
__global__ void __launch_bounds__(128) attention_tc_kernel(const AttentionParams p) {
  using namespace nvcuda;
  using L = TcLayout<DP>;
  extern __shared__ __align__(128) unsigned char smem_raw[];
  T* qs = reinterpret_cast<T*>(smem_raw);
  T* ks = qs + kTcRows * L::ldq;
  T* vs = ks + kTcKeys * L::ldq;
  float* xs = reinterpret_cast<float*>(vs + kTcKeys * L::ldq);
  T* ps = reinterpret_cast<T*>(xs + kTcRows * L::ldx);
  float* os = reinterpret_cast<float*>(ps + kTcRows * L::ldp);
  float* row_m = os + kTcRows * L::ldo;
  float* row_l = row_m + kTcRows;
  float* row_alpha = row_l + kTcRows;

  const int Dh = int(p.Dh);
  const HeadOperands<T> head(p);
  if (head.past_end) return;
  const int64_t row0 = int64_t(blockIdx.x) * kTcRows;
  const T *q = head.q, *k = head.k, *v = head.v;
  T* o = head.o;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const T zero = from_f32<T>(0.0f);

  for (int i = threadIdx.x; i < kTcRows * DP; i += blockDim.x) {
    const int r = i / DP, d = i % DP;
    const int64_t row = row0 + r;
    qs[r * L::ldq + d] = (row < p.N && d < Dh) ? q[row * p.q_sn + d] : zero;  // scaled in f32 on S
  }
  for (int i = threadIdx.x; i < kTcRows * DP; i += blockDim.x) os[(i / DP) * L::ldo + i % DP] = 0.0f;
  for (int i = threadIdx.x; i < kTcRows; i += blockDim.x) {
    row_m[i] = -INFINITY;
    row_l[i] = 0.0f;
  }
  const int wr = warp * 16;  // this warp's first row in the tile

  for (int64_t j0 = 0; j0 < p.M; j0 += kTcKeys) {
    const int kb = int(p.M - j0 < kTcKeys ? p.M - j0 : kTcKeys);
    __syncthreads();  // K/V of the previous tile no longer read
    for (int i = threadIdx.x; i < kTcKeys * DP; i += blockDim.x) {
      const int j = i / DP, d = i % DP;
      const bool ok = j < kb && d < Dh;
      ks[j * L::ldq + d] = ok ? k[(j0 + j) * p.k_sn + d] : zero;
      vs[j * L::ldq + d] = ok ? v[(j0 + j) * p.v_sn + d] : zero;
    }
    __syncthreads();

    // S = Q K^T for this warp's 16 rows x 64 keys
#pragma unroll
    for (int kt = 0; kt < kTcKeys / 16; kt++) {
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
      wmma::fill_fragment(acc, 0.0f);
#pragma unroll
      for (int dk = 0; dk < DP / 16; dk++) {
        wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> fa;
        wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::col_major> fb;
        wmma::load_matrix_sync(fa, qs + wr * L::ldq + dk * 16, L::ldq);
        wmma::load_matrix_sync(fb, ks + kt * 16 * L::ldq + dk * 16, L::ldq);
        wmma::mma_sync(acc, fa, fb, acc);
      }
      wmma::store_matrix_sync(xs + wr * L::ldx + kt * 16, acc, L::ldx, wmma::mem_row_major);
    }
    __syncwarp();

    // online softmax, one row at a time across the warp (lane owns keys lane and lane + 32)
    for (int r = wr; r < wr + 16; r++) {
      const bool v0 = lane < kb, v1 = lane + 32 < kb;
      const float s0 = v0 ? xs[r * L::ldx + lane] * p.scale : -INFINITY;
      const float s1 = v1 ? xs[r * L::ldx + lane + 32] * p.scale : -INFINITY;
      const float m_old = row_m[r];
      const float m_new = fmaxf(m_old, warp_max(fmaxf(s0, s1)));
      const float p0 = v0 ? expf(s0 - m_new) : 0.0f, p1 = v1 ? expf(s1 - m_new) : 0.0f;
      const float sum = warp_sum(p0 + p1);
      ps[r * L::ldp + lane] = from_f32<T>(p0);
      ps[r * L::ldp + lane + 32] = from_f32<T>(p1);
      __syncwarp();
      if (lane == 0) {
        const float alpha = expf(m_old - m_new);
        row_alpha[r] = alpha;
        row_l[r] = row_l[r] * alpha + sum;
        row_m[r] = m_new;
      }
    }
    __syncwarp();

    // P V (16 x DP) into the S area, then O = O * alpha + P V
#pragma unroll
    for (int dn = 0; dn < DP / 16; dn++) {
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
      wmma::fill_fragment(acc, 0.0f);
#pragma unroll
      for (int kt = 0; kt < kTcKeys / 16; kt++) {
        wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> fa;
        wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::row_major> fb;
        wmma::load_matrix_sync(fa, ps + wr * L::ldp + kt * 16, L::ldp);
        wmma::load_matrix_sync(fb, vs + kt * 16 * L::ldq + dn * 16, L::ldq);
        wmma::mma_sync(acc, fa, fb, acc);
      }
      wmma::store_matrix_sync(xs + wr * L::ldx + dn * 16, acc, L::ldx, wmma::mem_row_major);
    }
    __syncwarp();
    for (int i = lane; i < 16 * DP; i += 32) {
      const int r = wr + i / DP, d = i % DP;
      os[r * L::ldo + d] = os[r * L::ldo + d] * row_alpha[r] + xs[r * L::ldx + d];
    }
    __syncwarp();
  }
  __syncthreads();
  for (int i = threadIdx.x; i < kTcRows * Dh; i += blockDim.x) {
    const int r = i / Dh, d = i % Dh;
    const int64_t row = row0 + r;
    if (row < p.N) o[row * p.o_sn + d] = from_f32<T>(os[r * L::ldo + d] / row_l[r]);
  }
}

// false when this device cannot give the kernel its shared memory (then SIMT runs)
template <typename T, int DP>
bool launch_tc(const AttentionParams& p) {
  constexpr size_t smem = TcLayout<DP>::template bytes<T>();
  if (int(smem) > max_shared_optin()) return false;
  constexpr auto kernel = attention_tc_kernel<T, DP>;
  allow_dynamic_shared<kernel>(smem, "attention smem");
  const dim3 grid = attention_grid((p.N + kTcRows - 1) / kTcRows, p.B * p.H);
  kernel<<<grid, 128, smem, stream()>>>(p);
  return true;
}

template <typename T>
bool launch_tensor_cores(const AttentionParams& p) {
  if (p.Dh > 128) return false;  // the SIMT kernel takes those
  // head-dim dispatch: padded to the next multiple of 16
  switch ((p.Dh + 15) / 16) {
    case 1: case 2: return launch_tc<T, 32>(p);
    case 3: return launch_tc<T, 48>(p);
    case 4: return launch_tc<T, 64>(p);
    case 5: return launch_tc<T, 80>(p);
    case 6: return launch_tc<T, 96>(p);
    case 7: return launch_tc<T, 112>(p);
    default: return launch_tc<T, 128>(p);
  }
}

}  // namespace

bool attention_supports_head_dim(int64_t dh) { return dh >= 1 && dh <= kMaxHeadDim; }
const char* attention_head_dims() { return "1 to 256 (DiT uses 32, 64, 72, 80, 96, 128)"; }

void attention(const AttentionParams& p) {
  if (p.B == 0 || p.H == 0 || p.N == 0) return;
  if (!attention_supports_head_dim(p.Dh))
    throw std::invalid_argument("attention: head dim " + std::to_string(p.Dh) + " is not supported on CUDA; supported: " + attention_head_dims());
  dispatch(p.dtype, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (sizeof(T) == 2) {
      const AttentionKernel kernel = attention_kernel();
      const bool simt = kernel == AttentionKernel::Simt, wmma = kernel == AttentionKernel::Wmma;
      const bool named = kernel == AttentionKernel::Wgmma || kernel == AttentionKernel::WgmmaPingPong ||
                         kernel == AttentionKernel::WgmmaProducer || kernel == AttentionKernel::WgmmaProducerAlternating;
      const AttentionKernel wgmma = kernel == AttentionKernel::Auto ? kWgmmaAttentionByDefault : kernel;
      const WgmmaAttentionSchedule schedule = wgmma == AttentionKernel::WgmmaPingPong              ? WgmmaAttentionSchedule::PingPong
                                              : wgmma == AttentionKernel::WgmmaProducer            ? WgmmaAttentionSchedule::Producer
                                              : wgmma == AttentionKernel::WgmmaProducerAlternating ? WgmmaAttentionSchedule::ProducerAlternating
                                                                                                   : WgmmaAttentionSchedule::Lockstep;
      if (try_hopper(named, kernel == AttentionKernel::Auto, kHopperAttentionByDefault) &&
          attention_wgmma<T>(p, schedule))
        return;
      if (!simt && !wmma && attention_mma<T>(p)) return;
      if (!simt && launch_tensor_cores<T>(p)) return;
    }
    // head-dim dispatch: output dims per lane, the only compile-time shape
    switch ((p.Dh + 31) / 32) {
      case 1: launch<T, 1>(p); break;
      case 2: launch<T, 2>(p); break;
      case 3: launch<T, 3>(p); break;
      case 4: launch<T, 4>(p); break;
      case 5: launch<T, 5>(p); break;
      case 6: launch<T, 6>(p); break;
      case 7: launch<T, 7>(p); break;
      default: launch<T, 8>(p); break;
    }
  });
  check_launch("attention");
}

}  // namespace dit::cuda
