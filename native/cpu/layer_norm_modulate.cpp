// adaLN modulate: out = LN(x) * (1 + scale[b]) + shift[b]; LayerNorm without affine, biased
// variance. Statistics are taken on x - x[0] (shifted data): every value is then of the order of
// the row's spread, so f32 sums in 16 independent lanes (vectorisable) stay accurate even for rows
// with a large common offset, and no double math is needed.
#include <algorithm>
#include <cmath>

#include "ops.h"
#include "scratch.h"
#include "thread_pool.h"

namespace dit::cpu {

namespace {
template <typename T>
void layer_norm_modulate_t(const LayerNormModulateParams& p) {
  const T* x = static_cast<const T*>(p.x);
  const T* shift = static_cast<const T*>(p.shift);
  const T* scale = static_cast<const T*>(p.scale);
  T* out = static_cast<T*>(p.out);
  const int64_t rows = p.B * p.N, chunk = 16;
  parallel_for((rows + chunk - 1) / chunk, [&](int64_t task, int) {
    float* row = thread_scratch(size_t(p.D));
    for (int64_t i = task * chunk; i < std::min(rows, (task + 1) * chunk); i++) {
      const T* xr = x + i * p.D;
      const float shift0 = to_float(xr[0]);
      constexpr int kLanes = 16;
      float lane[kLanes] = {};
      int64_t d = 0;
      for (; d + kLanes <= p.D; d += kLanes)
        for (int l = 0; l < kLanes; l++) lane[l] += (row[d + l] = to_float(xr[d + l]) - shift0);
      for (; d < p.D; d++) lane[d % kLanes] += (row[d] = to_float(xr[d]) - shift0);
      double sum = 0;
      for (int l = 0; l < kLanes; l++) sum += lane[l];
      const float mean = float(sum / double(p.D));  // of the shifted row
      float sq[kLanes] = {};
      for (d = 0; d + kLanes <= p.D; d += kLanes)
        for (int l = 0; l < kLanes; l++) {
          const float c = row[d + l] - mean;
          sq[l] += c * c;
        }
      for (; d < p.D; d++) sq[d % kLanes] += (row[d] - mean) * (row[d] - mean);
      double var = 0;
      for (int l = 0; l < kLanes; l++) var += sq[l];
      const float rstd = float(1.0 / std::sqrt(var / double(p.D) + double(p.eps)));
      const int64_t b = i / p.N;
      const T* sh = shift + b * p.mod_stride;
      const T* sc = scale + b * p.mod_stride;
      T* o = out + i * p.D;
      for (d = 0; d < p.D; d++) {
        // the normalised value is rounded to the model dtype first, as Open-Sora's modulate does
        const float n = to_float(from_float<T>((row[d] - mean) * rstd));
        o[d] = from_float<T>(n * (1.0f + to_float(sc[d])) + to_float(sh[d]));
      }
    }
  });
}
}  // namespace

void layer_norm_modulate(const LayerNormModulateParams& p) {
  dispatch_float(p.dtype, [&](auto tag) { layer_norm_modulate_t<decltype(tag)>(p); });
}

}  // namespace dit::cpu
