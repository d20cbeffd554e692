// out = x + gate[b] * y over [B, N, D]; out may alias x (the DiT residual stream is updated in place).
#include <algorithm>

#include "map_f32.h"
#include "ops.h"
#include "thread_pool.h"

namespace dit::cpu {

void gated_residual(const GatedResidualParams& p) {
  require_float(p.dtype);
  const size_t size = dtype_size(p.dtype);
  const int64_t rows = p.B * p.N, chunk = 64;
  parallel_for((rows + chunk - 1) / chunk, [&](int64_t task, int) {
    for (int64_t i = task * chunk; i < std::min(rows, (task + 1) * chunk); i++) {
      const void* src[3] = {static_cast<const char*>(p.x) + i * p.D * size,
                            static_cast<const char*>(p.gate) + (i / p.N) * p.gate_stride * size,
                            static_cast<const char*>(p.y) + i * p.D * size};
      map_f32(p.dtype, src, static_cast<char*>(p.out) + i * p.D * size, p.D,
              [](float* out, const float* const* in, int64_t n) {
                for (int64_t d = 0; d < n; d++) out[d] = in[0][d] + in[1][d] * in[2][d];
              });
    }
  });
}

}  // namespace dit::cpu
