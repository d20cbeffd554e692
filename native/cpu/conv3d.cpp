// 3-D convolution (NCTHW, weight [Cout, Cin, kt, kh, kw]) as a GEMM over output positions:
// C[pos, co] = sum_k col[pos, k] W[co, k], k = (c, a, e, f). The gather writes each task's rows of
// col straight into the micro-kernel's packed A layout (no im2col matrix, no second packing pass);
// W is packed once per call; the bias rides in the GEMM epilogue. The gather handles stride,
// dilation, zero space padding and front/back time padding, zeros or replicating the edge frame
// (causal convs). C comes out position-major and is transposed into NCTHW.
#include <algorithm>

#include "isa/kernels.h"
#include "ops.h"
#include "scratch.h"
#include "thread_pool.h"

namespace dit::cpu {

namespace {

template <typename T>
void conv3d_t(const Conv3dParams& p) {
  const CpuKernels& kern = cpu_kernels();
  const int64_t mr = kern.mr, nr = kern.nr;
  const int64_t K = p.Cin * p.kt * p.kh * p.kw;
  const int64_t P = p.To * p.Ho * p.Wo;
  const int64_t in_frame = p.H * p.W, in_batch = p.Cin * p.T * in_frame;
  const T* x = static_cast<const T*>(p.x);
  const T* w = static_cast<const T*>(p.weight);

  // W [Cout, K] in NR-column panels, K-major (as linear.cpp packs its weights)
  const int64_t n_panels = (p.Cout + nr - 1) / nr;
  float* w_packed = thread_scratch(size_t(n_panels * nr * K), 1);
  parallel_for(n_panels, [&](int64_t panel, int) {
    float* dst = w_packed + panel * nr * K;
    for (int64_t j = 0; j < nr; j++) {
      const int64_t co = panel * nr + j;
      for (int64_t k = 0; k < K; k++) dst[k * nr + j] = co < p.Cout ? to_float(w[co * K + k]) : 0.0f;
    }
  });

  T* c = reinterpret_cast<T*>(thread_scratch(size_t((P * p.Cout * int64_t(sizeof(T)) + 3) / 4), 3));
  LinearParams g{};
  g.dtype = p.dtype;
  g.M = P; g.N = p.Cout; g.K = K;
  g.c = c; g.ldc = p.Cout;
  g.bias = p.bias;
  g.act = Activation::None;
  const int64_t mc = mr * 8;  // positions per task
  const int64_t tasks = (P + mc - 1) / mc;
  for (int64_t b = 0; b < p.B; b++) {
    const T* xb = x + b * in_batch;
    parallel_for(tasks, [&](int64_t task, int) {
      const int64_t m0 = task * mc, rows = std::min(mc, P - m0);
      const int64_t panels = (rows + mr - 1) / mr;
      float* a_packed = thread_scratch(size_t(panels * mr * K), 0);
      for (int64_t r = 0; r < panels * mr; r++) {
        float* dst = a_packed + (r / mr) * K * mr + r % mr;  // element k at dst[k * mr]
        if (r >= rows) {
          for (int64_t k = 0; k < K; k++) dst[k * mr] = 0.0f;
          continue;
        }
        const int64_t pos = m0 + r;
        const int64_t to = pos / (p.Ho * p.Wo), ho = (pos / p.Wo) % p.Ho, wo = pos % p.Wo;
        int64_t k = 0;
        for (int64_t ci = 0; ci < p.Cin; ci++)
          for (int64_t a = 0; a < p.kt; a++) {
            int64_t ti = to * p.st - p.pad_t_front + a * p.dt;
            bool t_ok = ti >= 0 && ti < p.T;
            if (!t_ok && p.replicate_time) {
              ti = std::min<int64_t>(std::max<int64_t>(ti, 0), p.T - 1);
              t_ok = true;
            }
            const T* frame = xb + ci * p.T * in_frame + ti * in_frame;
            for (int64_t e = 0; e < p.kh; e++) {
              const int64_t hi = ho * p.sh - p.pad_h + e * p.dh;
              const bool h_ok = t_ok && hi >= 0 && hi < p.H;
              for (int64_t f = 0; f < p.kw; f++, k++) {
                const int64_t wi = wo * p.sw - p.pad_w + f * p.dw;
                dst[k * mr] = (h_ok && wi >= 0 && wi < p.W) ? to_float(frame[hi * p.W + wi]) : 0.0f;
              }
            }
          }
      }
      kern.gemm_block(g, a_packed, m0, rows, w_packed, 0, p.Cout);
    });
    // position-major C -> NCTHW
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
