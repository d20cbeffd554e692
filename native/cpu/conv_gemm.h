// The core shared by conv3d and patch_embed3d: C[pos, co] = sum_k col[pos, k] W[co, k] for one
// batch element, k = (c, a, e, f). The gather writes each task's rows of col straight into the
// micro-kernel's packed A layout (no im2col matrix, no second packing pass), as f32 or, for bf16
// on AVX512-BF16, as the bf16 pairs of the dot-product GEMM (twice the f32 rate); the bias rides
// in the GEMM epilogue. It handles stride, dilation, zero space padding (also past the end, which
// is PatchEmbed3D's padding) and front/back time padding, zeros or replicating the edge frame.
#pragma once
#include <algorithm>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "isa/kernels.h"
#include "pack.h"
#include "scratch.h"
#include "thread_pool.h"

namespace dit::cpu {

constexpr int64_t kMaxMr = 16;  // the largest micro-kernel row count of any ISA (AVX-512: 14)
constexpr int64_t kMaxTaskPanels = 8;  // micro-panels of positions per task (one gather call)

// W [Cout, K] in NR-column panels, K-major, in the caller's slot-1 scratch: f32 values, or bf16
// pairs along K where the GEMM runs on them (packs_bf16_pairs).
template <typename T>
const void* pack_conv_weight(const Conv3dParams& p) {
  const int nr = cpu_kernels().nr;
  const int64_t K = p.Cin * p.kt * p.kh * p.kw;
  const int64_t n_panels = (p.Cout + nr - 1) / nr;
  const bool pairs = packs_bf16_pairs(p.dtype);
  const int64_t kp = pairs ? (K + 1) / 2 : K;
  float* w_packed = thread_scratch(size_t(n_panels * nr * kp), 1);
  const T* w = static_cast<const T*>(p.weight);
  parallel_for(n_panels, [&](int64_t panel, int) {
    const T* rows[kMaxPanelWidth];
    for (int j = 0; j < nr; j++) rows[j] = panel * nr + j < p.Cout ? w + (panel * nr + j) * K : nullptr;
    if constexpr (std::is_same_v<T, bf16>) {
      if (pairs) {
        pack_panel(rows, nr, K, reinterpret_cast<uint32_t*>(w_packed) + panel * nr * kp);
        return;
      }
    }
    pack_panel(rows, nr, K, w_packed + panel * nr * kp);
  });
  return w_packed;
}

// The input of batch elements [b0, b1) in f32, padded so that every tap of every output position
// is in range (zeros in space and past the end, zeros or the edge frame in time): the gather then
// needs no bounds tests and no conversions. Held in the calling thread's slot-2 scratch.
struct PaddedInput {
  const float* data = nullptr;  // [b - b0][Cin][Tp][Hp][Wp]
  int64_t Tp = 0, Hp = 0, Wp = 0;
};
constexpr int64_t kPaddedInputMaxFloats = int64_t(8) << 20;  // 32 MB; larger inputs gather directly

// The padded copy pays when taps overlap (each input element feeds several positions); with
// stride = kernel (PatchEmbed3D) every element is gathered once and the copy is pure cost.
// DIT_CPU_CONV_GATHER=direct turns it off (tests cover both paths that way).
inline bool padded_gather_pays(const Conv3dParams& p) {
  static const bool direct_forced = [] {
    const char* env = std::getenv("DIT_CPU_CONV_GATHER");
    return env && std::string(env) == "direct";
  }();
  return !direct_forced && ((p.kt - 1) * p.dt + 1 > p.st || (p.kh - 1) * p.dh + 1 > p.sh || (p.kw - 1) * p.dw + 1 > p.sw);
}

template <typename T>
PaddedInput padded_input(const Conv3dParams& p, int64_t b0, int64_t b1) {
  PaddedInput pi;
  if (!padded_gather_pays(p)) return pi;
  pi.Tp = (p.To - 1) * p.st + (p.kt - 1) * p.dt + 1;
  pi.Hp = (p.Ho - 1) * p.sh + (p.kh - 1) * p.dh + 1;
  pi.Wp = (p.Wo - 1) * p.sw + (p.kw - 1) * p.dw + 1;
  const int64_t frames = (b1 - b0) * p.Cin * pi.Tp, frame = pi.Hp * pi.Wp;
  if (frames * frame > kPaddedInputMaxFloats) return pi;  // data stays nullptr
  float* data = thread_scratch(size_t(frames * frame), 2);
  parallel_for(frames, [&](int64_t f, int) {
    const int64_t tp = f % pi.Tp, ci = (f / pi.Tp) % p.Cin, b = b0 + f / (pi.Tp * p.Cin);
    float* dst = data + f * frame;
    int64_t ti = tp - p.pad_t_front;
    if (p.replicate_time) ti = std::min<int64_t>(std::max<int64_t>(ti, 0), p.T - 1);
    if (ti < 0 || ti >= p.T) {
      std::fill(dst, dst + frame, 0.0f);
      return;
    }
    const T* src = static_cast<const T*>(p.x) + ((b * p.Cin + ci) * p.T + ti) * p.H * p.W;
    for (int64_t hp = 0; hp < pi.Hp; hp++) {
      float* row = dst + hp * pi.Wp;
      const int64_t hi = hp - p.pad_h;
      std::fill(row, row + pi.Wp, 0.0f);
      if (hi < 0 || hi >= p.H) continue;
      const int64_t w_count = std::min<int64_t>(pi.Wp, p.pad_w + p.W) - p.pad_w;
      if (w_count > 0) cpu_kernels().to_f32(dtype_of<T>(), src + hi * p.W, row + p.pad_w, w_count);
    }
  });
  pi.data = data;
  return pi;
}

// Where the taps of the positions [first, first + count) start in the padded input (positions
// past `count` repeat the last one: rows not stored).
inline void padded_offsets(const Conv3dParams& p, const PaddedInput& pi, int64_t first, int64_t count, int64_t mr, int64_t* offset) {
  for (int64_t r = 0; r < mr; r++) {
    const int64_t pos = first + std::min(r, count - 1);
    const int64_t to = pos / (p.Ho * p.Wo), ho = (pos / p.Wo) % p.Ho, wo = pos % p.Wo;
    offset[r] = ((to * p.st) * pi.Hp + ho * p.sh) * pi.Wp + wo * p.sw;
  }
}

// Each k = (ci, a, e, f)'s offset in the padded input, for the gather (kernels.h conv_gather).
inline std::vector<int64_t> padded_taps(const Conv3dParams& p, const PaddedInput& pi) {
  std::vector<int64_t> tap;
  tap.reserve(size_t(p.Cin * p.kt * p.kh * p.kw));
  for (int64_t ci = 0; ci < p.Cin; ci++)
    for (int64_t a = 0; a < p.kt; a++)
      for (int64_t e = 0; e < p.kh; e++)
        for (int64_t f = 0; f < p.kw; f++) tap.push_back(((ci * pi.Tp + a * p.dt) * pi.Hp + e * p.dh) * pi.Wp + f * p.dw);
  return tap;
}

// The same from the unpadded input, with bounds tests (inputs too large for a padded copy).
template <typename T>
void gather_panel_direct(const Conv3dParams& p, const T* xb, int64_t first, int64_t count, int64_t mr, float* dst) {
  const int64_t in_frame = p.H * p.W;
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

// Output positions of batch elements [b0, b1) into c[((b - b0) * P + pos) * ldc + co]
// (position-major), as one parallel loop over (batch element, block of positions).
template <typename T>
void conv_positions_gemm(const Conv3dParams& p, int64_t b0, int64_t b1, const void* w_packed, T* c, int64_t ldc) {
  const CpuKernels& kern = cpu_kernels();
  const int64_t mr = kern.mr;
  if (mr > kMaxMr) throw std::logic_error("conv gather: micro-kernel rows exceed kMaxMr");
  const int64_t K = p.Cin * p.kt * p.kh * p.kw;
  const int64_t P = p.To * p.Ho * p.Wo;
  const bool pairs = packs_bf16_pairs(p.dtype);
  const int64_t kp = pairs ? (K + 1) / 2 : K;  // packed elements of a row of A
  const PaddedInput padded = padded_input<T>(p, b0, b1);
  const std::vector<int64_t> taps = padded.data ? padded_taps(p, padded) : std::vector<int64_t>();
  // the direct gather writes f32 panels; as pairs they are then regathered from that panel
  // ([K][mr]: tap k at k * mr, row r at r)
  std::vector<int64_t> panel_taps, panel_rows;
  if (!padded.data && pairs) {
    for (int64_t k = 0; k < K; k++) panel_taps.push_back(k * mr);
    for (int64_t r = 0; r < mr; r++) panel_rows.push_back(r);
  }
  // positions per task: up to 8 micro-kernel rows, fewer when that would leave threads idle
  const int64_t nb = b1 - b0, min_tasks = 4 * int64_t(thread_count());
  const int64_t mc = std::max<int64_t>(mr, std::min<int64_t>(mr * kMaxTaskPanels, (P * nb / min_tasks) / mr * mr));
  const int64_t tasks_per_b = (P + mc - 1) / mc;
  parallel_for(nb * tasks_per_b, [&](int64_t task, int) {
    const int64_t b = b0 + task / tasks_per_b;
    LinearParams g{};
    g.dtype = p.dtype;
    g.M = P; g.N = p.Cout; g.K = K;
    g.c = c + (b - b0) * P * ldc; g.ldc = ldc;
    g.bias = p.bias;
    g.act = Activation::None;
    const int64_t m0 = (task % tasks_per_b) * mc, rows = std::min(mc, P - m0);
    const int64_t panels = (rows + mr - 1) / mr;
    float* a_packed = thread_scratch(size_t(panels * mr * kp), 0);  // f32 values or bf16 pairs (32-bit words)
    if (padded.data) {
      // the task's panels in one call (kernels.h): they share the input rows of every tap
      const float* xb = padded.data + (b - b0) * p.Cin * padded.Tp * padded.Hp * padded.Wp;
      int64_t offset[kMaxTaskPanels * kMaxMr];
      for (int64_t panel = 0; panel < panels; panel++) {
        const int64_t first = m0 + panel * mr, count = std::min(mr, rows - panel * mr);
        padded_offsets(p, padded, first, count, mr, offset + panel * mr);
      }
      kern.conv_gather(xb, taps.data(), K, offset, int(mr), int(panels), kp * mr, pairs, a_packed);
    } else {
      const T* xb = static_cast<const T*>(p.x) + b * p.Cin * p.T * p.H * p.W;
      for (int64_t panel = 0; panel < panels; panel++) {
        float* dst = a_packed + panel * kp * mr;
        const int64_t first = m0 + panel * mr, count = std::min(mr, rows - panel * mr);
        if (!pairs) {
          gather_panel_direct<T>(p, xb, first, count, mr, dst);
          continue;
        }
        float* f32_panel = thread_scratch(size_t(K * mr), 4);
        gather_panel_direct<T>(p, xb, first, count, mr, f32_panel);
        kern.conv_gather(f32_panel, panel_taps.data(), K, panel_rows.data(), int(mr), 1, kp * mr, true, dst);
      }
    }
    if (pairs) {
      kern.gemm_block_bf16(g, reinterpret_cast<const uint32_t*>(a_packed), m0, rows, static_cast<const uint32_t*>(w_packed), 0, p.Cout);
    } else {
      kern.gemm_block(g, a_packed, m0, rows, static_cast<const float*>(w_packed), 0, p.Cout);
    }
  });
}

}  // namespace dit::cpu
