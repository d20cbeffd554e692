// out[i, :] = x[i, :] + add[(i / add_repeat) % add_rows, :]: positional embeddings (one table
// broadcast over batch), and c = t_emb + y_emb (add_rows = rows). out may alias x.
#include <algorithm>

#include "ops.h"
#include "thread_pool.h"

namespace dit::cpu {

namespace {
template <typename T>
void add_rows_t(const AddRowsParams& p) {
  const T* x = static_cast<const T*>(p.x);
  const T* add = static_cast<const T*>(p.add);
  T* out = static_cast<T*>(p.out);
  const int64_t chunk = 64;
  parallel_for((p.rows + chunk - 1) / chunk, [&](int64_t task, int) {
    for (int64_t i = task * chunk; i < std::min(p.rows, (task + 1) * chunk); i++) {
      const T* a = add + ((i / p.add_repeat) % p.add_rows) * p.D;
      for (int64_t d = 0; d < p.D; d++) out[i * p.D + d] = from_float<T>(to_float(x[i * p.D + d]) + to_float(a[d]));
    }
  });
}
}  // namespace

void add_rows(const AddRowsParams& p) {
  dispatch_float(p.dtype, [&](auto tag) { add_rows_t<decltype(tag)>(p); });
}

}  // namespace dit::cpu
