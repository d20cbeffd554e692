// Packing rows of a matrix into the GEMM's K-major panels (shared by linear and the conv core).
#pragma once
#include <algorithm>
#include <cstring>

#include "isa/kernels.h"

namespace dit::cpu {

constexpr int kMaxPanelWidth = 32;  // the widest panel of any ISA set (AVX-512: NR = 32)

// Whether a GEMM in this dtype packs bf16 pairs (else f32 values): bf16 where the ISA has the
// bf16 dot product (its GEMM runs at twice the f32 rate).
inline bool packs_bf16_pairs(DType dtype) { return dtype == DType::BF16 && cpu_kernels().gemm_block_bf16 != nullptr; }

// A K-major panel [K][width] of f32 from `width` rows of K elements (rows[i] == nullptr: a row past
// the matrix, zeros). Element k of every row lands next to each other, so the stores run
// contiguously; 16-bit rows are converted in vector chunks first; whole blocks of 16 steps go
// through the ISA's word transposes where it has them.
template <typename T>
void pack_panel(const T* const* rows, int width, int64_t K, float* panel) {
  constexpr int64_t kChunk = 64;
  static const float zeros[kChunk] = {};
  float buf[kMaxPanelWidth][kChunk];
  const float* src[kMaxPanelWidth];
  const auto vector_pack = cpu_kernels().pack_words;
  for (int64_t k0 = 0; k0 < K; k0 += kChunk) {
    const int64_t n = std::min(kChunk, K - k0);
    for (int i = 0; i < width; i++) {
      if (!rows[i]) {
        src[i] = zeros;
      } else if constexpr (sizeof(T) == 4) {
        src[i] = rows[i] + k0;
      } else {
        cpu_kernels().to_f32(dtype_of<T>(), rows[i] + k0, buf[i], n);
        src[i] = buf[i];
      }
    }
    int64_t k = 0;
    if (vector_pack) {
      const void* words[kMaxPanelWidth];
      for (int i = 0; i < width; i++) words[i] = src[i];
      k = vector_pack(words, width, n, reinterpret_cast<uint32_t*>(panel + k0 * width));
    }
    for (; k < n; k++)
      for (int i = 0; i < width; i++) panel[(k0 + k) * width + i] = src[i][k];
  }
}

// The same panel as bf16 pairs along K, the layout of the AVX512-BF16 GEMM: word kp of row i holds
// row[2 kp] (low half) and row[2 kp + 1] (high half, zero past an odd K).
inline void pack_panel(const bf16* const* rows, int width, int64_t K, uint32_t* panel) {
  const int64_t full = K / 2, K2 = (K + 1) / 2;
  int64_t kp = 0;
  if (const auto vector_pack = cpu_kernels().pack_words) {  // whole blocks of 16 steps (pairs as words)
    const void* words[kMaxPanelWidth];
    for (int i = 0; i < width; i++) words[i] = rows[i];
    kp = vector_pack(words, width, full, panel);
  }
  for (; kp < K2; kp++) {
    uint32_t* out = panel + kp * width;
    for (int i = 0; i < width; i++) {
      uint32_t word = 0;
      if (rows[i] && kp < full) std::memcpy(&word, rows[i] + 2 * kp, 4);  // little-endian: the even k low
      else if (rows[i]) word = rows[i][K - 1].bits;
      out[i] = word;
    }
  }
}

}  // namespace dit::cpu
