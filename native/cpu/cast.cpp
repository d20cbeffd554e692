// dtype conversion between any two dtypes, in parallel chunks.
#include <algorithm>

#include "isa/kernels.h"
#include "ops.h"
#include "thread_pool.h"

namespace dit::cpu {

void convert(const void* src, DType src_dtype, void* dst, DType dst_dtype, int64_t count) {
  if (src_dtype == dst_dtype || !is_float(src_dtype) || !is_float(dst_dtype))
    return convert_elements(src, src_dtype, dst, dst_dtype, count);
  const CpuKernels& kern = cpu_kernels();
  if (src_dtype == DType::F32) return kern.from_f32(dst_dtype, static_cast<const float*>(src), dst, count);
  if (dst_dtype == DType::F32) return kern.to_f32(src_dtype, src, static_cast<float*>(dst), count);
  constexpr int64_t kChunk = 1024;  // f16 <-> bf16 through f32
  float buf[kChunk];
  for (int64_t i0 = 0; i0 < count; i0 += kChunk) {
    const int64_t n = std::min(kChunk, count - i0);
    kern.to_f32(src_dtype, static_cast<const char*>(src) + i0 * 2, buf, n);
    kern.from_f32(dst_dtype, buf, static_cast<char*>(dst) + i0 * 2, n);
  }
}

void cast(const CastParams& p) {
  const int64_t chunk = 1 << 16;
  const size_t ss = dtype_size(p.src_dtype), ds = dtype_size(p.dst_dtype);
  parallel_for((p.count + chunk - 1) / chunk, [&](int64_t task, int) {
    const int64_t i0 = task * chunk, n = std::min(chunk, p.count - i0);
    convert(static_cast<const char*>(p.src) + i0 * ss, p.src_dtype, static_cast<char*>(p.dst) + i0 * ds, p.dst_dtype, n);
  });
}

}  // namespace dit::cpu
