// The core shared by conv3d and patch_embed3d: C[pos, co] = sum_k col[pos, k] W[co, k] for one
// batch element, k = (c, a, e, f). The gather writes each task's rows of col straight into the
// micro-kernel's packed A layout (no im2col matrix, no second packing pass); the bias rides in the
// GEMM epilogue. It handles stride, dilation, zero space padding (also past the end, which is
// PatchEmbed3D's padding) and front/back time padding, zeros or replicating the edge frame.
#pragma once
#include <algorithm>
#include <stdexcept>

#include "isa/kernels.h"
#include "scratch.h"
#include "thread_pool.h"

namespace dit::cpu {

constexpr int64_t kMaxMr = 16;  // the largest micro-kernel row count of any ISA (AVX-512: 14)

// W [Cout, K] in NR-column panels, K-major, in the caller's slot-1 scratch.
template <typename T>
const float* pack_conv_weight(const Conv3dParams& p) {
  const int64_t nr = cpu_kernels().nr;
  const int64_t K = p.Cin * p.kt * p.kh * p.kw;
  const int64_t n_panels = (p.Cout + nr - 1) / nr;
  float* w_packed = thread_scratch(size_t(n_panels * nr * K), 1);
  const T* w = static_cast<const T*>(p.weight);
  parallel_for(n_panels, [&](int64_t panel, int) {
    float* dst = w_packed + panel * nr * K;
    for (int64_t j = 0; j < nr; j++) {
      const int64_t co = panel * nr + j;
      for (int64_t k = 0; k < K; k++) dst[k * nr + j] = co < p.Cout ? to_float(w[co * K + k]) : 0.0f;
    }
  });
  return w_packed;
}

// Output positions of batch elements [b0, b1) into c[((b - b0) * P + pos) * ldc + co]
// (position-major), as one parallel loop over (batch element, block of positions).
template <typename T>
void conv_positions_gemm(const Conv3dParams& p, int64_t b0, int64_t b1, const float* w_packed, T* c, int64_t ldc) {
  const CpuKernels& kern = cpu_kernels();
  const int64_t mr = kern.mr;
  if (mr > kMaxMr) throw std::logic_error("conv gather: micro-kernel rows exceed kMaxMr");
  const int64_t K = p.Cin * p.kt * p.kh * p.kw;
  const int64_t P = p.To * p.Ho * p.Wo;
  const int64_t in_frame = p.H * p.W;
  // positions per task: up to 8 micro-kernel rows, fewer when that would leave threads idle
  const int64_t nb = b1 - b0, min_tasks = 4 * int64_t(thread_count());
  const int64_t mc = std::max<int64_t>(mr, std::min<int64_t>(mr * 8, (P * nb / min_tasks) / mr * mr));
  const int64_t tasks_per_b = (P + mc - 1) / mc;
  parallel_for(nb * tasks_per_b, [&](int64_t task, int) {
    const int64_t b = b0 + task / tasks_per_b;
    const T* xb = static_cast<const T*>(p.x) + b * p.Cin * p.T * in_frame;
    LinearParams g{};
    g.dtype = p.dtype;
    g.M = P; g.N = p.Cout; g.K = K;
    g.c = c + (b - b0) * P * ldc; g.ldc = ldc;
    g.bias = p.bias;
    g.act = Activation::None;
    const int64_t m0 = (task % tasks_per_b) * mc, rows = std::min(mc, P - m0);
    const int64_t panels = (rows + mr - 1) / mr;
    float* a_packed = thread_scratch(size_t(panels * mr * K), 0);
    for (int64_t panel = 0; panel < panels; panel++) {
      // one micro-panel: mr positions; element (r, k) at dst[k * mr + r], so each k is a run of
      // mr contiguous floats (positions of one output row read consecutive inputs when stride 1)
      float* dst = a_packed + panel * K * mr;
      const int64_t first = m0 + panel * mr, count = std::min(mr, rows - panel * mr);
      int64_t t_base[kMaxMr], h_base[kMaxMr], w_base[kMaxMr];
      for (int64_t r = 0; r < mr; r++) {
        const int64_t pos = first + std::min(r, count - 1);  // rows past the end: zeroed below
        const int64_t to = pos / (p.Ho * p.Wo), ho = (pos / p.Wo) % p.Ho, wo = pos % p.Wo;
        t_base[r] = to * p.st - p.pad_t_front;
        h_base[r] = ho * p.sh - p.pad_h;
        w_base[r] = wo * p.sw - p.pad_w;
      }
      const T* frame[kMaxMr];
      const T* row[kMaxMr];
      int64_t k = 0;
      for (int64_t ci = 0; ci < p.Cin; ci++)
        for (int64_t a = 0; a < p.kt; a++) {
          for (int64_t r = 0; r < mr; r++) {
            int64_t ti = t_base[r] + a * p.dt;
            if (p.replicate_time) ti = std::min<int64_t>(std::max<int64_t>(ti, 0), p.T - 1);
            frame[r] = (r < count && ti >= 0 && ti < p.T) ? xb + (ci * p.T + ti) * in_frame : nullptr;
          }
          for (int64_t e = 0; e < p.kh; e++) {
            for (int64_t r = 0; r < mr; r++) {
              const int64_t hi = h_base[r] + e * p.dh;
              row[r] = (frame[r] && hi >= 0 && hi < p.H) ? frame[r] + hi * p.W : nullptr;
            }
            for (int64_t f = 0; f < p.kw; f++, k++) {
              float* d = dst + k * mr;
              for (int64_t r = 0; r < mr; r++) {
                const int64_t wi = w_base[r] + f * p.dw;
                d[r] = (row[r] && wi >= 0 && wi < p.W) ? to_float(row[r][wi]) : 0.0f;
              }
            }
          }
        }
    }
    kern.gemm_block(g, a_packed, m0, rows, w_packed, 0, p.Cout);
  });
}

}  // namespace dit::cpu
