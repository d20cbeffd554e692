// out = x + gate[b] * y over [B, N, D]; out may alias x (the DiT residual stream is updated in place).
#include <algorithm>

#include "ops.h"
#include "thread_pool.h"

namespace dit::cpu {

namespace {
template <typename T>
void gated_residual_t(const GatedResidualParams& p) {
  const T* x = static_cast<const T*>(p.x);
  const T* g = static_cast<const T*>(p.gate);
  const T* y = static_cast<const T*>(p.y);
  T* out = static_cast<T*>(p.out);
  const int64_t rows = p.B * p.N, chunk = 64;
  parallel_for((rows + chunk - 1) / chunk, [&](int64_t task, int) {
    for (int64_t i = task * chunk; i < std::min(rows, (task + 1) * chunk); i++) {
      const T* gr = g + (i / p.N) * p.gate_stride;
      for (int64_t d = 0; d < p.D; d++) {
        const int64_t e = i * p.D + d;
        out[e] = from_float<T>(to_float(x[e]) + to_float(gr[d]) * to_float(y[e]));
      }
    }
  });
}
}  // namespace

void gated_residual(const GatedResidualParams& p) {
  dispatch_float(p.dtype, [&](auto tag) { gated_residual_t<decltype(tag)>(p); });
}

}  // namespace dit::cpu
