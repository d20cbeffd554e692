// Elementwise activations (gelu tanh/erf, silu): the ISA kernel on f32 chunks (map_f32.h).
#include <algorithm>

#include "isa/kernels.h"
#include "map_f32.h"
#include "ops.h"
#include "thread_pool.h"

namespace dit::cpu {

void unary(const UnaryParams& p) {
  require_float(p.dtype);
  const size_t size = dtype_size(p.dtype);
  constexpr int64_t chunk = 4096;
  const CpuKernels& kern = cpu_kernels();
  parallel_for((p.count + chunk - 1) / chunk, [&](int64_t task, int) {
    const int64_t i0 = task * chunk;
    const void* src[1] = {static_cast<const char*>(p.x) + i0 * size};
    map_f32(p.dtype, src, static_cast<char*>(p.out) + i0 * size, std::min(chunk, p.count - i0),
            [&](float* out, const float* const* in, int64_t n) { kern.activation_f32(p.act, in[0], out, n); });
  });
}

}  // namespace dit::cpu
