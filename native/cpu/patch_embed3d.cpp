// PatchEmbed3D: the stride = kernel Conv3d, whose position-major GEMM output (conv_gemm.h) is
// already the token layout [B, N, D] (T-major tokens n = (ti * h + hi) * w + wi). Input past T, H,
// W reads as zero: PatchEmbed3D's end padding.
#include "conv_gemm.h"
#include "ops.h"

namespace dit::cpu {

namespace {
template <typename T>
void patch_embed3d_t(const PatchEmbedParams& pe) {
  Conv3dParams p{};
  p.dtype = pe.dtype;
  p.B = pe.B; p.Cin = pe.C; p.T = pe.T; p.H = pe.H; p.W = pe.W;
  p.Cout = pe.D; p.kt = pe.pt; p.kh = pe.ph; p.kw = pe.pw;
  p.st = pe.pt; p.sh = pe.ph; p.sw = pe.pw;
  p.dt = p.dh = p.dw = 1;
  p.To = (pe.T + pe.pt - 1) / pe.pt; p.Ho = (pe.H + pe.ph - 1) / pe.ph; p.Wo = (pe.W + pe.pw - 1) / pe.pw;
  p.x = pe.x; p.weight = pe.weight; p.bias = pe.bias; p.out = pe.out;
  const ConvLayout layout = conv_layout(p);
  const void* w_packed = pack_conv_weight<T>(p, layout);
  // the GEMM's position-major rows are the tokens: straight into the output
  const int64_t P = p.To * p.Ho * p.Wo;
  for (int64_t b = 0; b < p.B; b++) conv_frames<T>(p, layout, b, 0, p.To, w_packed, static_cast<T*>(pe.out) + b * P * pe.D, pe.D);
}
}  // namespace

void patch_embed3d(const PatchEmbedParams& p) {
  if (p.B == 0) return;
  dispatch_float(p.dtype, [&](auto tag) { patch_embed3d_t<decltype(tag)>(p); });
}

}  // namespace dit::cpu
