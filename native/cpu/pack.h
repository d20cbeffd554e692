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

}  // namespace dit::cpu
