// Attention kernels besides the ones in attention.cu (which picks among them).
#pragma once
#include <type_traits>

#include "common.cuh"

namespace dit::cuda {

// The attention grids: x over query-row tiles, the (batch, head) pairs over y and z (each at most
// 65535), so any B * H launches. A kernel reads its pair with block_head() and returns at once when
// it is past B * H (the last z slice is partly empty).
constexpr int64_t kGridYMax = 65535;
inline dim3 attention_grid(int64_t query_tiles, int64_t heads) {
  return dim3(unsigned(query_tiles), unsigned(heads < kGridYMax ? heads : kGridYMax), unsigned((heads + kGridYMax - 1) / kGridYMax));
}
__device__ inline int64_t block_head() { return int64_t(blockIdx.z) * kGridYMax + blockIdx.y; }

// The Q, K, V and O of this block's (batch, head) pair (bh = b * H + h, from block_head()); a
// kernel returns at once, before any barrier, when past_end (the last z slice of the grid).
template <typename T>
struct HeadOperands {
  const T *q, *k, *v;
  T* o;
  bool past_end;
  __device__ explicit HeadOperands(const AttentionParams& p) {
    const int64_t bh = block_head();
    past_end = bh >= p.B * p.H;
    const int64_t b = past_end ? 0 : bh / p.H, h = past_end ? 0 : bh % p.H;  // no pointer past the tensors
    q = static_cast<const T*>(p.q) + b * p.q_sb + h * p.q_sh;
    k = static_cast<const T*>(p.k) + b * p.k_sb + h * p.k_sh;
    v = static_cast<const T*>(p.v) + b * p.v_sb + h * p.v_sh;
    o = static_cast<T*>(p.o) + b * p.o_sb + h * p.o_sh;
  }
};

// What the tensor-core kernels need of the operands: Q, K, V rows 16-byte aligned (cp.async) and
// O stored in 4-byte pairs.
template <typename T>
inline bool attention_operands_fit_tensor_cores(const AttentionParams& p) {
  return rows_are_16_byte_aligned<T>(p.q, p.q_sb, p.q_sh, p.q_sn) &&
         rows_are_16_byte_aligned<T>(p.k, p.k_sb, p.k_sh, p.k_sn) && rows_are_16_byte_aligned<T>(p.v, p.v_sb, p.v_sh, p.v_sn) &&
         reinterpret_cast<uintptr_t>(p.o) % 4 == 0 && p.o_sb % 2 == 0 && p.o_sh % 2 == 0 && p.o_sn % 2 == 0;
}

// The one head-dim dispatch of the tensor-core attention kernels: fn(std::integral_constant<int, D>)
// for the head dims DiT-family models use (each kernel computes D at its own size; every
// instantiation is compiled for five GPU targets, hence the short list), false for the others.
template <typename Fn>
bool dispatch_head_dim(int64_t dh, Fn&& fn) {
  switch (dh) {
    case 16: return fn(std::integral_constant<int, 16>{});
    case 32: return fn(std::integral_constant<int, 32>{});
    case 40: return fn(std::integral_constant<int, 40>{});
    case 48: return fn(std::integral_constant<int, 48>{});
    case 64: return fn(std::integral_constant<int, 64>{});
    case 72: return fn(std::integral_constant<int, 72>{});
    case 80: return fn(std::integral_constant<int, 80>{});
    case 96: return fn(std::integral_constant<int, 96>{});
    case 128: return fn(std::integral_constant<int, 128>{});
    default: return false;
  }
}

// FlashAttention-2-style mma.sync kernel for T = __half / __nv_bfloat16; false (nothing launched)
// when the head dim, the strides or the scale (positive only) do not fit it.
template <typename T>
bool attention_mma(const AttentionParams& p);

// The same on Hopper's wgmma (attention_wgmma.cu): false when the device is not compute
// capability 9.0 or the head dim (64, 72, 80, 96, 128) or strides do not fit it. The schedule:
// how its two warpgroups get their K / V tiles and keep in step (attention_wgmma.cu).
enum class WgmmaAttentionSchedule { Lockstep, PingPong, Producer, ProducerAlternating };
template <typename T>
bool attention_wgmma(const AttentionParams& p, WgmmaAttentionSchedule schedule);

}  // namespace dit::cuda
