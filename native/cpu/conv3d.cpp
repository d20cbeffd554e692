// 3-D convolution (NCTHW, weight [Cout, Cin, kt, kh, kw]) as an im2col GEMM per chunk of output
// positions: out[b, :, chunk] = weight [Cout, K] x col[chunk, K]^T. The gather handles stride,
// dilation, zero space padding and front/back time padding, zeros or replicating the edge frame
// (causal convs), so no padded copy of the input is made.
#include <algorithm>

#include "ops.h"
#include "scratch.h"
#include "thread_pool.h"

namespace dit::cpu {

namespace {

constexpr int64_t kPositionsPerChunk = 1024;

template <typename T>
void conv3d_t(const Conv3dParams& p) {
  const T* x = static_cast<const T*>(p.x);
  const int64_t K = p.Cin * p.kt * p.kh * p.kw;
  const int64_t P = p.To * p.Ho * p.Wo;
  const int64_t in_frame = p.H * p.W, in_batch = p.Cin * p.T * in_frame;
  T* col = reinterpret_cast<T*>(thread_scratch(size_t((kPositionsPerChunk * K * sizeof(T) + 3) / 4), 3));
  for (int64_t b = 0; b < p.B; b++) {
    for (int64_t pos0 = 0; pos0 < P; pos0 += kPositionsPerChunk) {
      const int64_t count = std::min(kPositionsPerChunk, P - pos0);
      parallel_for(count, [&](int64_t i, int) {
        const int64_t pos = pos0 + i;
        const int64_t to = pos / (p.Ho * p.Wo), ho = (pos / p.Wo) % p.Ho, wo = pos % p.Wo;
        T* dst = col + i * K;
        for (int64_t c = 0; c < p.Cin; c++)
          for (int64_t a = 0; a < p.kt; a++) {
            int64_t ti = to * p.st - p.pad_t_front + a * p.dt;
            bool t_ok = ti >= 0 && ti < p.T;
            if (!t_ok && p.replicate_time) {
              ti = std::min<int64_t>(std::max<int64_t>(ti, 0), p.T - 1);
              t_ok = true;
            }
            for (int64_t e = 0; e < p.kh; e++) {
              const int64_t hi = ho * p.sh - p.pad_h + e * p.dh;
              for (int64_t f = 0; f < p.kw; f++) {
                const int64_t wi = wo * p.sw - p.pad_w + f * p.dw;
                const bool ok = t_ok && hi >= 0 && hi < p.H && wi >= 0 && wi < p.W;
                *dst++ = ok ? x[b * in_batch + c * p.T * in_frame + ti * in_frame + hi * p.W + wi] : from_float<T>(0.0f);
              }
            }
          }
      });
      LinearParams g{};
      g.dtype = p.dtype;
      g.M = p.Cout; g.N = count; g.K = K;
      g.a = p.weight; g.lda = K;
      g.w = col; g.ldw = K;
      g.c = static_cast<T*>(p.out) + b * p.Cout * P + pos0; g.ldc = P;
      g.act = Activation::None;
      linear(g);
    }
    if (p.bias) {
      const T* bias = static_cast<const T*>(p.bias);
      T* out = static_cast<T*>(p.out) + b * p.Cout * P;
      parallel_for(p.Cout, [&](int64_t co, int) {
        const float bv = to_float(bias[co]);
        for (int64_t i = 0; i < P; i++) out[co * P + i] = from_float<T>(to_float(out[co * P + i]) + bv);
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
