// adaLN modulate: out = LN(x) * (1 + scale[b]) + shift[b], one warp per row of D; statistics in
// f32 on the row shifted by its first element (accurate for rows with a large offset, as on the
// CPU); the normalised value is rounded to the storage type before the modulation (Open-Sora).
#include "backend.h"
#include "common.cuh"

namespace dit::cuda {

namespace {
template <typename T>
__global__ void layer_norm_modulate_kernel(const LayerNormModulateParams p) {
  const int64_t row = int64_t(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= p.B * p.N) return;
  const T* x = static_cast<const T*>(p.x) + row * p.D;
  const float s0 = to_f32(x[0]);
  float sum = 0.0f;
  for (int64_t d = lane; d < p.D; d += 32) sum += to_f32(x[d]) - s0;
  const float mean = warp_sum(sum) / float(p.D);
  float sq = 0.0f;
  for (int64_t d = lane; d < p.D; d += 32) {
    const float c = (to_f32(x[d]) - s0) - mean;
    sq += c * c;
  }
  const float rstd = rsqrtf(warp_sum(sq) / float(p.D) + p.eps);
  const int64_t b = row / p.N;
  const T* shift = static_cast<const T*>(p.shift) + b * p.mod_stride;
  const T* scale = static_cast<const T*>(p.scale) + b * p.mod_stride;
  T* out = static_cast<T*>(p.out) + row * p.D;
  for (int64_t d = lane; d < p.D; d += 32) {
    const float n = to_f32(from_f32<T>(((to_f32(x[d]) - s0) - mean) * rstd));
    out[d] = from_f32<T>(n * (1.0f + to_f32(scale[d])) + to_f32(shift[d]));
  }
}
}  // namespace

void layer_norm_modulate(const LayerNormModulateParams& p) {
  if (p.B * p.N == 0 || p.D == 0) return;
  dispatch(p.dtype, [&](auto tag) {
    layer_norm_modulate_kernel<decltype(tag)><<<grid_for(p.B * p.N, 8), 256, 0, stream()>>>(p);
  });
  check_launch("layerNormModulate");
}

}  // namespace dit::cuda
