// 3-D convolution (NCTHW, weight [Cout, Cin, kt, kh, kw]): a GEMM over output positions
// (conv_gemm.h), then the position-major result transposed into NCTHW.
#include <algorithm>

#include "conv_gemm.h"
#include "ops.h"

namespace dit::cpu {

namespace {
template <typename T>
void conv3d_t(const Conv3dParams& p) {
  const int64_t P = p.To * p.Ho * p.Wo;
  const ConvLayout layout = conv_layout(p);
  const void* w_packed = pack_conv_weight<T>(p, layout);
  T* c = reinterpret_cast<T*>(thread_scratch(size_t((P * p.Cout * int64_t(sizeof(T)) + 3) / 4), 3));
  for (int64_t b = 0; b < p.B; b++) {
    conv_positions_gemm<T>(p, layout, b, b + 1, w_packed, c, p.Cout);
    T* out = static_cast<T*>(p.out) + b * p.Cout * P;
    // in tiles of positions: a tile's rows of c stay in L1 while every channel takes its run of
    // outputs from them (a channel at a time over all of c read each row's line Cout times over)
    constexpr int64_t kTile = 64;
    parallel_for((P + kTile - 1) / kTile, [&](int64_t tile, int) {
      const int64_t p0 = tile * kTile, n = std::min(kTile, P - p0);
      for (int64_t co = 0; co < p.Cout; co++) {
        const T* src = c + p0 * p.Cout + co;
        T* dst = out + co * P + p0;
        for (int64_t i = 0; i < n; i++) dst[i] = src[i * p.Cout];
      }
    });
  }
}
}  // namespace

void conv3d(const Conv3dParams& p) {
  if (p.B == 0 || p.Cout == 0 || p.To * p.Ho * p.Wo == 0) return;
  dispatch_float(p.dtype, [&](auto tag) { conv3d_t<decltype(tag)>(p); });
}

}  // namespace dit::cpu
