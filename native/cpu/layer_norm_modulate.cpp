// adaLN modulate: out = LN(x) * (1 + scale[b]) + shift[b]; LayerNorm without affine, biased
// variance, statistics in double (x is read once into f32, then normalised in the same pass).
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
      double sum = 0, sq = 0;
      for (int64_t d = 0; d < p.D; d++) sum += (row[d] = to_float(xr[d]));
      const double mean = sum / double(p.D);
      for (int64_t d = 0; d < p.D; d++) sq += (row[d] - mean) * (row[d] - mean);
      const double rstd = 1.0 / std::sqrt(sq / double(p.D) + double(p.eps));
      const int64_t b = i / p.N;
      const T* sh = shift + b * p.mod_stride;
      const T* sc = scale + b * p.mod_stride;
      T* o = out + i * p.D;
      for (int64_t d = 0; d < p.D; d++) {
        // the normalised value is rounded to the model dtype first, as Open-Sora's modulate does
        const float n = to_float(from_float<T>(float((row[d] - mean) * rstd)));
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
