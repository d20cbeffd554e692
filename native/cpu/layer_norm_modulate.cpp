// adaLN modulate: out = LN(x) * (1 + scale[b]) + shift[b]; LayerNorm without affine, biased
// variance, f32 statistics. The row loop is an ISA kernel (isa/kernels.inc); here, the split of
// the rows over the threads.
#include <algorithm>

#include "isa/kernels.h"
#include "ops.h"
#include "scratch.h"
#include "thread_pool.h"

namespace dit::cpu {

void layer_norm_modulate(const LayerNormModulateParams& p) {
  require_float(p.dtype);
  if (p.D == 0) return;  // empty rows: nothing to normalise (and no row to read)
  const int64_t rows = p.B * p.N, chunk = 16;
  const auto rows_kernel = cpu_kernels().layer_norm_modulate_rows;
  parallel_for((rows + chunk - 1) / chunk, [&](int64_t task, int) {
    rows_kernel(p, task * chunk, std::min(rows, (task + 1) * chunk), thread_scratch(size_t(p.D)));
  });
}

}  // namespace dit::cpu
