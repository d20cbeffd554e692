// Elementwise work in f32 on rows of any floating dtype: f16/bf16 inputs go through the ISA's
// vectorised row conversions a chunk at a time (one element at a time they cost more than the
// arithmetic); f32 rows are used in place.
#pragma once
#include <algorithm>
#include <cstddef>

#include "isa/kernels.h"

namespace dit::cpu {

// fn(out, in, count) on kIn input rows src[j] of n elements (dtype) and the output row dst; out
// may alias in[0] (and dst may alias src[0]): fn must work element by element.
template <size_t kIn, typename Fn>
void map_f32(DType dtype, const void* const (&src)[kIn], void* dst, int64_t n, Fn&& fn) {
  const float* in[kIn];
  if (dtype == DType::F32) {
    for (size_t j = 0; j < kIn; j++) in[j] = static_cast<const float*>(src[j]);
    fn(static_cast<float*>(dst), in, n);
    return;
  }
  constexpr int64_t kChunk = 256;
  float buf[kIn][kChunk];
  const size_t size = dtype_size(dtype);
  const CpuKernels& kern = cpu_kernels();
  for (int64_t i0 = 0; i0 < n; i0 += kChunk) {
    const int64_t count = std::min(kChunk, n - i0);
    for (size_t j = 0; j < kIn; j++) {
      kern.to_f32(dtype, static_cast<const char*>(src[j]) + i0 * size, buf[j], count);
      in[j] = buf[j];
    }
    fn(buf[0], in, count);
    kern.from_f32(dtype, buf[0], static_cast<char*>(dst) + i0 * size, count);
  }
}

}  // namespace dit::cpu
