// 3-D convolution (NCTHW, weight [Cout, Cin, kt, kh, kw]): a GEMM over output positions
// (conv_gemm.h), then the position-major result transposed into NCTHW, a slab of frames at a time.
#include <algorithm>

#include "conv_gemm.h"
#include "ops.h"

namespace dit::cpu {

namespace {
template <typename T>
void conv3d_t(const Conv3dParams& p) {
  const int64_t P = p.To * p.Ho * p.Wo, frame_positions = p.Ho * p.Wo;
  const ConvLayout layout = conv_layout(p);
  const void* w_packed = pack_conv_weight<T>(p, layout);
  const int64_t frame_bytes = frame_positions * p.Cout * int64_t(sizeof(T));
  // the position-major result a slab of frames at a time (conv_slab_max_words): the per-thread
  // scratch never grows to a whole VAE activation
  const int64_t slab = std::max<int64_t>(1, std::min<int64_t>(p.To, conv_slab_max_words() * 4 / frame_bytes));
  T* c = reinterpret_cast<T*>(thread_scratch(size_t((slab * frame_bytes + 3) / 4), 3));
  for (int64_t b = 0; b < p.B; b++) {
    for (int64_t t0 = 0; t0 < p.To; t0 += slab) {
      const int64_t frames = std::min(slab, p.To - t0), positions = frames * frame_positions;
      conv_frames<T>(p, layout, b, t0, frames, w_packed, c, p.Cout);
      T* out = static_cast<T*>(p.out) + b * p.Cout * P + t0 * frame_positions;
      // in tiles of positions: a tile's rows of c stay in L1 while every channel takes its run of
      // outputs from them (a channel at a time over all of c read each row's line Cout times over)
      constexpr int64_t kTile = 64;
      parallel_for((positions + kTile - 1) / kTile, [&](int64_t tile, int) {
        const int64_t p0 = tile * kTile, n = std::min(kTile, positions - p0);
        for (int64_t co = 0; co < p.Cout; co++) {
          const T* src = c + p0 * p.Cout + co;
          T* dst = out + co * P + p0;
          for (int64_t i = 0; i < n; i++) dst[i] = src[i * p.Cout];
        }
      });
    }
  }
}
}  // namespace

void conv3d(const Conv3dParams& p) {
  if (p.B == 0 || p.Cout == 0 || p.To * p.Ho * p.Wo == 0) return;
  dispatch_float(p.dtype, [&](auto tag) { conv3d_t<decltype(tag)>(p); });
}

}  // namespace dit::cpu
