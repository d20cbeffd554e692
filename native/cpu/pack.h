// Packing rows of a matrix into the GEMM's K-major f32 panels (shared by linear and the conv core).
#pragma once
#include <algorithm>

#include "isa/kernels.h"

namespace dit::cpu {

// Column `col` of a K-major panel of width `width` from one row of K elements (16-bit rows are
// converted to f32 in vector chunks first), or zeros for a row past the matrix (row == nullptr).
template <typename T>
void pack_row(const T* row, int64_t K, int64_t width, int64_t col, float* panel) {
  if (!row) {
    for (int64_t k = 0; k < K; k++) panel[k * width + col] = 0.0f;
  } else if constexpr (sizeof(T) == 4) {
    for (int64_t k = 0; k < K; k++) panel[k * width + col] = row[k];
  } else {
    constexpr int64_t kChunk = 512;
    float buf[kChunk];
    for (int64_t k0 = 0; k0 < K; k0 += kChunk) {
      const int64_t count = std::min(kChunk, K - k0);
      cpu_kernels().to_f32(dtype_of<T>(), row + k0, buf, count);
      for (int64_t k = 0; k < count; k++) panel[(k0 + k) * width + col] = buf[k];
    }
  }
}

// Column `col` of a bf16-pair panel of width `width` from one bf16 row of K elements: element kp
// of the column holds row[2 kp] (low half) and row[2 kp + 1] (high half), zero past K; all zeros
// for a row past the matrix (row == nullptr). The layout of the AVX512-BF16 GEMM.
inline void pack_bf16_pairs(const bf16* row, int64_t K, int64_t width, int64_t col, uint32_t* panel) {
  const int64_t K2 = (K + 1) / 2;
  if (!row) {
    for (int64_t kp = 0; kp < K2; kp++) panel[kp * width + col] = 0;
    return;
  }
  for (int64_t kp = 0; kp < K / 2; kp++) panel[kp * width + col] = uint32_t(row[2 * kp].bits) | (uint32_t(row[2 * kp + 1].bits) << 16);
  if (K % 2) panel[(K2 - 1) * width + col] = row[K - 1].bits;
}

}  // namespace dit::cpu
