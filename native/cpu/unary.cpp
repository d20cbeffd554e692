// Elementwise activations (gelu tanh/erf, silu): converted to f32 in chunks, then the ISA kernel.
#include <algorithm>

#include "isa/kernels.h"
#include "ops.h"
#include "thread_pool.h"

namespace dit::cpu {

namespace {
template <typename T>
void unary_t(const UnaryParams& p) {
  const T* x = static_cast<const T*>(p.x);
  T* out = static_cast<T*>(p.out);
  constexpr int64_t chunk = 4096;
  const CpuKernels& kern = cpu_kernels();
  parallel_for((p.count + chunk - 1) / chunk, [&](int64_t task, int) {
    float buf[chunk] = {};
    const int64_t i0 = task * chunk, n = std::min(chunk, p.count - i0);
    for (int64_t i = 0; i < n; i++) buf[i] = to_float(x[i0 + i]);
    kern.activation_f32(p.act, buf, buf, n);
    for (int64_t i = 0; i < n; i++) out[i0 + i] = from_float<T>(buf[i]);
  });
}
}  // namespace

void unary(const UnaryParams& p) {
  dispatch_float(p.dtype, [&](auto tag) { unary_t<decltype(tag)>(p); });
}

}  // namespace dit::cpu
