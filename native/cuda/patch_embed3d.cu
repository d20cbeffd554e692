// PatchEmbed3D: gather each patch (zero beyond T, H, W: PatchEmbed3D's end padding) into a row of
// [B * N, C * pt * ph * pw], then one GEMM with the conv weight and bias: out [B, N, D], T-major tokens.
#include "backend.h"
#include "common.cuh"

namespace dit::cuda {

namespace {
template <typename T>
__global__ void gather_patches_kernel(const PatchEmbedParams p, int64_t t, int64_t h, int64_t w, T* patches) {
  const int64_t N = t * h * w, K = p.C * p.pt * p.ph * p.pw;
  const T* x = static_cast<const T*>(p.x);
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < p.B * N * K; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t row = i / K, kk = i % K;
    const int64_t b = row / N, n = row % N;
    const int64_t ti = n / (h * w), hi = (n / w) % h, wi = n % w;
    const int64_t f = kk % p.pw, e = (kk / p.pw) % p.ph, a = (kk / (p.pw * p.ph)) % p.pt, c = kk / (p.pw * p.ph * p.pt);
    const int64_t tt = ti * p.pt + a, hh = hi * p.ph + e, ww = wi * p.pw + f;
    patches[i] = (tt < p.T && hh < p.H && ww < p.W) ? x[(((b * p.C + c) * p.T + tt) * p.H + hh) * p.W + ww] : from_f32<T>(0.0f);
  }
}
}  // namespace

void patch_embed3d(const PatchEmbedParams& p) {
  if (p.B == 0) return;
  const int64_t t = (p.T + p.pt - 1) / p.pt, h = (p.H + p.ph - 1) / p.ph, w = (p.W + p.pw - 1) / p.pw;
  const int64_t N = t * h * w, K = p.C * p.pt * p.ph * p.pw;
  dispatch(p.dtype, [&](auto tag) {
    using T = decltype(tag);
    DeviceScratch patches(size_t(p.B * N * K) * sizeof(T));
    gather_patches_kernel<T><<<grid_for(p.B * N * K, 256), 256, 0, stream()>>>(p, t, h, w, static_cast<T*>(patches.get()));
    check_launch("patchEmbed3d gather");
    LinearParams g{};
    g.dtype = p.dtype;
    g.M = p.B * N; g.N = p.D; g.K = K;
    g.a = patches.get(); g.lda = K;
    g.w = p.weight; g.ldw = K;
    g.c = p.out; g.ldc = p.D;
    g.bias = p.bias;
    g.act = Activation::None;
    linear(g);
  });
}

}  // namespace dit::cuda
