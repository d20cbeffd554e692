// PatchEmbed3D: the stride = kernel Conv3d is a GEMM over gathered patches. Tokens are T-major
// (n = (ti * h + hi) * w + wi); input beyond T, H, W (the end padding) reads as zero; out is [B, N, D].
#include "ops.h"
#include "scratch.h"
#include "thread_pool.h"

namespace dit::cpu {

namespace {
template <typename T>
void patch_embed3d_t(const PatchEmbedParams& p) {
  const T* x = static_cast<const T*>(p.x);
  const int64_t t = (p.T + p.pt - 1) / p.pt, h = (p.H + p.ph - 1) / p.ph, w = (p.W + p.pw - 1) / p.pw;
  const int64_t N = t * h * w, K = p.C * p.pt * p.ph * p.pw;
  T* patches = reinterpret_cast<T*>(thread_scratch(size_t((p.B * N * K * sizeof(T) + 3) / 4), 3));
  parallel_for(p.B * N, [&](int64_t row, int) {
    const int64_t b = row / N, n = row % N;
    const int64_t ti = n / (h * w), hi = (n / w) % h, wi = n % w;
    T* dst = patches + row * K;
    for (int64_t c = 0; c < p.C; c++)
      for (int64_t a = 0; a < p.pt; a++)
        for (int64_t e = 0; e < p.ph; e++)
          for (int64_t f = 0; f < p.pw; f++) {
            const int64_t tt = ti * p.pt + a, hh = hi * p.ph + e, ww = wi * p.pw + f;
            const bool in = tt < p.T && hh < p.H && ww < p.W;
            *dst++ = in ? x[(((b * p.C + c) * p.T + tt) * p.H + hh) * p.W + ww] : from_float<T>(0.0f);
          }
  });
  LinearParams g{};
  g.dtype = p.dtype;
  g.M = p.B * N; g.N = p.D; g.K = K;
  g.a = patches; g.lda = K;
  g.w = p.weight; g.ldw = K;
  g.c = p.out; g.ldc = p.D;
  g.bias = p.bias;
  g.act = Activation::None;
  linear(g);
}
}  // namespace

void patch_embed3d(const PatchEmbedParams& p) {
  if (p.B == 0) return;
  dispatch_float(p.dtype, [&](auto tag) { patch_embed3d_t<decltype(tag)>(p); });
}

}  // namespace dit::cpu
