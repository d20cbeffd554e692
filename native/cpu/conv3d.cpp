// 3-D convolution (NCTHW, weight [Cout, Cin, kt, kh, kw]): a GEMM over output positions
// (conv_gemm.h), then the position-major result transposed into NCTHW.
#include "conv_gemm.h"
#include "ops.h"

namespace dit::cpu {

namespace {
template <typename T>
void conv3d_t(const Conv3dParams& p) {
  const int64_t P = p.To * p.Ho * p.Wo;
  const void* w_packed = pack_conv_weight<T>(p);
  T* c = reinterpret_cast<T*>(thread_scratch(size_t((P * p.Cout * int64_t(sizeof(T)) + 3) / 4), 3));
  for (int64_t b = 0; b < p.B; b++) {
    conv_positions_gemm<T>(p, b, b + 1, w_packed, c, p.Cout);
    T* out = static_cast<T*>(p.out) + b * p.Cout * P;
    parallel_for(p.Cout, [&](int64_t co, int) {
      for (int64_t pos = 0; pos < P; pos++) out[co * P + pos] = c[pos * p.Cout + co];
    });
  }
}
}  // namespace

void conv3d(const Conv3dParams& p) {
  if (p.B == 0 || p.Cout == 0 || p.To * p.Ho * p.Wo == 0) return;
  dispatch_float(p.dtype, [&](auto tag) { conv3d_t<decltype(tag)>(p); });
}

}  // namespace dit::cpu
