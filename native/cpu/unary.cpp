// Elementwise activations (gelu tanh/erf, silu): converted to f32 in chunks, then the ISA kernel.
#include <algorithm>

#include "isa/kernels.h"
#include "ops.h"
#include "thread_pool.h"

namespace dit::cpu {

void unary(const UnaryParams& p) {
  require_float(p.dtype);
  const size_t size = dtype_size(p.dtype);
  constexpr int64_t chunk = 4096;
  const CpuKernels& kern = cpu_kernels();
  parallel_for((p.count + chunk - 1) / chunk, [&](int64_t task, int) {
    float buf[chunk];
    const int64_t i0 = task * chunk, n = std::min(chunk, p.count - i0);
    kern.to_f32(p.dtype, static_cast<const char*>(p.x) + i0 * size, buf, n);
    kern.activation_f32(p.act, buf, buf, n);
    kern.from_f32(p.dtype, buf, static_cast<char*>(p.out) + i0 * size, n);
  });
}

}  // namespace dit::cpu
