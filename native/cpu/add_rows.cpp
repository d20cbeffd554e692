// out[i, :] = x[i, :] + add[(i / add_repeat) % add_rows, :]: positional embeddings (one table
// broadcast over batch), and c = t_emb + y_emb (add_rows = rows). out may alias x.
#include <algorithm>

#include "map_f32.h"
#include "ops.h"
#include "thread_pool.h"

namespace dit::cpu {

void add_rows(const AddRowsParams& p) {
  require_float(p.dtype);
  const size_t size = dtype_size(p.dtype);
  const int64_t chunk = 64;
  parallel_for((p.rows + chunk - 1) / chunk, [&](int64_t task, int) {
    for (int64_t i = task * chunk; i < std::min(p.rows, (task + 1) * chunk); i++) {
      const void* src[2] = {static_cast<const char*>(p.x) + i * p.D * size,
                            static_cast<const char*>(p.add) + ((i / p.add_repeat) % p.add_rows) * p.D * size};
      map_f32(p.dtype, src, static_cast<char*>(p.out) + i * p.D * size, p.D,
              [](float* out, const float* const* in, int64_t n) {
                for (int64_t d = 0; d < n; d++) out[d] = in[0][d] + in[1][d];
              });
    }
  });
}

}  // namespace dit::cpu
