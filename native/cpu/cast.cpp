// dtype conversion between any two dtypes, in parallel chunks.
#include <algorithm>

#include "ops.h"
#include "thread_pool.h"

namespace dit::cpu {

void cast(const CastParams& p) {
  const int64_t chunk = 1 << 16;
  const size_t ss = dtype_size(p.src_dtype), ds = dtype_size(p.dst_dtype);
  parallel_for((p.count + chunk - 1) / chunk, [&](int64_t task, int) {
    const int64_t i0 = task * chunk, n = std::min(chunk, p.count - i0);
    convert_elements(static_cast<const char*>(p.src) + i0 * ss, p.src_dtype, static_cast<char*>(p.dst) + i0 * ds,
                     p.dst_dtype, n);
  });
}

}  // namespace dit::cpu
