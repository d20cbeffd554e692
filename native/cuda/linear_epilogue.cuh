// The linear layers' epilogue, shared by every GEMM kernel: bias, activation, the adaLN-Zero gated
// residual C = residual + gate[m / rows_per_gate] * (.), and the store in the storage type.
#pragma once
#include "common.cuh"
#include "gemm_mma.cuh"

namespace dit::cuda {

template <typename T>
__device__ __forceinline__ float linear_epilogue(const LinearParams& p, int64_t m, int64_t n, float v) {
  if (p.bias) v += to_f32(static_cast<const T*>(p.bias)[n]);
  v = activate(p.act, v);
  if (p.gate) {
    v = to_f32(static_cast<const T*>(p.residual)[m * p.ldc + n]) +
        to_f32(static_cast<const T*>(p.gate)[(m / p.rows_per_gate) * p.gate_stride + n]) * v;
  }
  return v;
}

// The values of C[m, n] and C[m, n + 1] (n + 1 only where it is inside N) through the epilogue, as
// the tensor-core kernels hold them: adjacent columns of one accumulator fragment.
template <typename T>
__device__ __forceinline__ void store_linear_pair(const LinearParams& p, int64_t m, int64_t n, float v0, float v1) {
  if (m >= p.M || n >= p.N) return;
  const bool second = n + 1 < p.N;
  v0 = linear_epilogue<T>(p, m, n, v0);
  if (second) v1 = linear_epilogue<T>(p, m, n + 1, v1);
  gemm::store_pair(static_cast<T*>(p.c) + m * p.ldc + n, second, v0, v1);
}

template <typename T>
__device__ __forceinline__ void store_out(const LinearParams& p, int64_t m, int64_t n, float v) {
  static_cast<T*>(p.c)[m * p.ldc + n] = from_f32<T>(linear_epilogue<T>(p, m, n, v));
}

}  // namespace dit::cuda
