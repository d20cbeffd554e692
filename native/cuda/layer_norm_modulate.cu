// adaLN modulate: out = LN(x) * (1 + scale[b]) + shift[b], one warp per row of D; the normalised
// value is rounded to the storage type before the modulation (Open-Sora). Two kernels:
// - rows of up to 32 x 8 16-byte vectors with 16-byte aligned operands (every DiT width): the row
//   is read once, with 16-byte loads, into registers; mean and variance of the row shifted by its
//   first element are two passes over the registers; one pass of 16-byte stores. One read and
//   one write of x: the bandwidth floor. A row whose squares overflow f32 is taken again scaled.
// - anything else: a generic kernel, statistics in f32 on the row shifted by its first element
//   (accurate for rows with a large offset, as on the CPU), three passes over the row.
#include "backend.h"
#include "common.cuh"

namespace dit::cuda {

namespace {
constexpr float kFloatMax = 3.4028234663852886e38f;

// A row whose spread is above ~1e19 overflows the sum of squares: the statistics are taken again
// on the row scaled by 2^-e (exact; eps scaled with it), as on the CPU. False for rows holding Inf
// or NaN (amax not finite), which stay NaN. fmaxf drops NaN, so a NaN row rescales harmlessly.
__device__ __forceinline__ bool overflow_rescale(float amax, int* e) {
  if (!(amax <= kFloatMax)) return false;
  frexpf(amax, e);
  return true;
}

template <typename T>
__global__ void layer_norm_modulate_kernel(const LayerNormModulateParams p) {
  const int64_t row = int64_t(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= p.B * p.N) return;
  const T* x = static_cast<const T*>(p.x) + row * p.D;
  const float s0 = to_f32(x[0]);
  // the shifted row times `down` (1, or a power of two when the squares overflow f32)
  auto stats = [&](float down, float eps, float* mean_out, float* rstd_out) {
    float sum = 0.0f;
    for (int64_t d = lane; d < p.D; d += 32) sum += (to_f32(x[d]) - s0) * down;
    const float mean = warp_sum(sum) / float(p.D);
    float sq = 0.0f;
    for (int64_t d = lane; d < p.D; d += 32) {
      const float c = (to_f32(x[d]) - s0) * down - mean;
      sq += c * c;
    }
    sq = warp_sum(sq);
    *mean_out = mean;
    *rstd_out = rsqrtf(sq / float(p.D) + eps);
    return sq <= kFloatMax;
  };
  float mean, rstd, down = 1.0f;
  if (!stats(1.0f, p.eps, &mean, &rstd)) {
    float amax = 0.0f;
    for (int64_t d = lane; d < p.D; d += 32) amax = fmaxf(amax, fabsf(to_f32(x[d]) - s0));
    int e;
    if (overflow_rescale(warp_max(amax), &e)) {
      down = ldexpf(1.0f, -e);
      stats(down, ldexpf(p.eps, -2 * e), &mean, &rstd);
    }
  }
  const int64_t b = row / p.N;
  const T* shift = static_cast<const T*>(p.shift) + b * p.mod_stride;
  const T* scale = static_cast<const T*>(p.scale) + b * p.mod_stride;
  T* out = static_cast<T*>(p.out) + row * p.D;
  for (int64_t d = lane; d < p.D; d += 32) {
    const float n = to_f32(from_f32<T>(((to_f32(x[d]) - s0) * down - mean) * rstd));
    out[d] = from_f32<T>(n * (1.0f + to_f32(scale[d])) + to_f32(shift[d]));
  }
}

template <typename T, int kVecsPerLane>
__global__ void __launch_bounds__(256) layer_norm_modulate_vec_kernel(const LayerNormModulateParams p) {
  constexpr int E = 16 / int(sizeof(T));  // elements per 16-byte vector
  const int64_t row = int64_t(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= p.B * p.N) return;
  const int vecs = int(p.D / E);
  const uint4* x = reinterpret_cast<const uint4*>(static_cast<const T*>(p.x) + row * p.D);
  float v[kVecsPerLane][E];
#pragma unroll
  for (int i = 0; i < kVecsPerLane; i++) {
    const int j = lane + 32 * i;
    uint4 raw = make_uint4(0, 0, 0, 0);
    if (j < vecs) raw = x[j];
    const T* t = reinterpret_cast<const T*>(&raw);
#pragma unroll
    for (int e = 0; e < E; e++) v[i][e] = to_f32(t[e]);
  }
  // statistics of the row shifted by its first element (lane 0's first value): f32 sums stay
  // accurate for rows with a large common offset, as on the CPU
  const float s0 = __shfl_sync(0xffffffffu, v[0][0], 0);
#pragma unroll
  for (int i = 0; i < kVecsPerLane; i++)
#pragma unroll
    for (int e = 0; e < E; e++) v[i][e] -= s0;
  auto stats = [&](float eps, float* mean_out, float* rstd_out) {
    float sum = 0.0f;
#pragma unroll
    for (int i = 0; i < kVecsPerLane; i++) {
      if (lane + 32 * i >= vecs) continue;
#pragma unroll
      for (int e = 0; e < E; e++) sum += v[i][e];
    }
    const float mean = warp_sum(sum) / float(p.D);  // of the shifted row
    float sq = 0.0f;
#pragma unroll
    for (int i = 0; i < kVecsPerLane; i++) {
      if (lane + 32 * i >= vecs) continue;
#pragma unroll
      for (int e = 0; e < E; e++) sq += (v[i][e] - mean) * (v[i][e] - mean);
    }
    sq = warp_sum(sq);
    *mean_out = mean;
    *rstd_out = rsqrtf(sq / float(p.D) + eps);
    return sq <= kFloatMax;
  };
  float mean, rstd;
  if (!stats(p.eps, &mean, &rstd)) {
    float amax = 0.0f;
#pragma unroll
    for (int i = 0; i < kVecsPerLane; i++) {
      if (lane + 32 * i >= vecs) continue;
#pragma unroll
      for (int e = 0; e < E; e++) amax = fmaxf(amax, fabsf(v[i][e]));
    }
    int e2;
    if (overflow_rescale(warp_max(amax), &e2)) {
      const float down = ldexpf(1.0f, -e2);
#pragma unroll
      for (int i = 0; i < kVecsPerLane; i++)
#pragma unroll
        for (int e = 0; e < E; e++) v[i][e] *= down;
      stats(ldexpf(p.eps, -2 * e2), &mean, &rstd);
    }
  }
  const int64_t b = row / p.N;
  const uint4* shift = reinterpret_cast<const uint4*>(static_cast<const T*>(p.shift) + b * p.mod_stride);
  const uint4* scale = reinterpret_cast<const uint4*>(static_cast<const T*>(p.scale) + b * p.mod_stride);
  uint4* out = reinterpret_cast<uint4*>(static_cast<T*>(p.out) + row * p.D);
#pragma unroll
  for (int i = 0; i < kVecsPerLane; i++) {
    const int j = lane + 32 * i;
    if (j >= vecs) continue;
    const uint4 sh_raw = shift[j], sc_raw = scale[j];
    const T* sh = reinterpret_cast<const T*>(&sh_raw);
    const T* sc = reinterpret_cast<const T*>(&sc_raw);
    uint4 res;
    T* r = reinterpret_cast<T*>(&res);
#pragma unroll
    for (int e = 0; e < E; e++) {
      const float n = to_f32(from_f32<T>((v[i][e] - mean) * rstd));
      r[e] = from_f32<T>(n * (1.0f + to_f32(sc[e])) + to_f32(sh[e]));
    }
    out[j] = res;
  }
}

template <typename T, int kVecsPerLane>
void launch_vec(const LayerNormModulateParams& p) {
  layer_norm_modulate_vec_kernel<T, kVecsPerLane><<<grid_for(p.B * p.N, 8), 256, 0, stream()>>>(p);
}

// true when the register-resident kernel ran
template <typename T>
bool layer_norm_modulate_vec(const LayerNormModulateParams& p) {
  constexpr int64_t E = 16 / int64_t(sizeof(T));
  if (!rows_are_16_byte_aligned<T>(p.x, p.D) || !rows_are_16_byte_aligned<T>(p.out, p.D) ||
      !rows_are_16_byte_aligned<T>(p.shift, p.mod_stride) || !rows_are_16_byte_aligned<T>(p.scale, p.mod_stride))
    return false;
  // vectors per lane: the one compile-time shape (D up to 2048 in 16-bit types, 1024 in f32)
  const int64_t per_lane = (p.D / E + 31) / 32;
  switch (per_lane) {
    case 1: launch_vec<T, 1>(p); return true;
    case 2: launch_vec<T, 2>(p); return true;
    case 3: launch_vec<T, 3>(p); return true;
    case 4: launch_vec<T, 4>(p); return true;
    case 5: launch_vec<T, 5>(p); return true;
    case 6: launch_vec<T, 6>(p); return true;
    case 7: case 8: launch_vec<T, 8>(p); return true;
    default: return false;
  }
}

}  // namespace

void layer_norm_modulate(const LayerNormModulateParams& p) {
  if (p.B * p.N == 0 || p.D == 0) return;
  dispatch(p.dtype, [&](auto tag) {
    using T = decltype(tag);
    if (!layer_norm_modulate_vec<T>(p)) layer_norm_modulate_kernel<T><<<grid_for(p.B * p.N, 8), 256, 0, stream()>>>(p);
  });
  check_launch("layerNormModulate");
}

}  // namespace dit::cuda
