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

// The input of a batch element, padded so that every tap of every output position is in
// range (zeros in space and past the end, zeros or the edge frame in time): the gather then needs
// no bounds tests and no conversions. Words of 32 bits: f32 values, or for the bf16 GEMM the bf16
// pair of channels 2c and 2c + 1 (zero past an odd Cin), so that a step of the GEMM's K (a pair)
// is one word of the copy and the gather moves words as they are. Held in the calling thread's
// slot-2 scratch.
struct PaddedInput {
  const float* data = nullptr;  // [channels][Tp][Hp][Wp] words
};
// The bound on what a convolution holds at once, in 32-bit words: its padded input copy and its
// position-major result are each made a slab of output frames at a time within it (32 MB), at
// least a frame (when one output frame's input is larger, the gather reads the input directly).
// DIT_CPU_CONV_SLAB_WORDS sets another bound (the tests use small ones to run many slabs).
inline int64_t conv_slab_max_words() {
  static const int64_t bound = [] {
    const char* env = std::getenv("DIT_CPU_CONV_SLAB_WORDS");
    const long long v = env ? std::atoll(env) : 0;
    return v > 0 ? int64_t(v) : int64_t(8) << 20;
  }();
  return bound;
}

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

// How a convolution's GEMM operands are laid out, decided once for W and every batch element.
struct ConvLayout {
  bool pairs = false;   // A and W as bf16 pairs along K (the bf16 dot-product GEMM), else f32
  bool padded = false;  // A gathered from a padded copy of the input (else directly, bounds-tested)
  // K's order: (c, a, e, f); with pairs from the padded copy, channel pairs at one tap:
  // (c / 2, a, e, f, c % 2), Cin rounded up to even (W is reordered to match)
  int64_t channels = 0;  // channels (words) of the padded copy: Cin, or ceil(Cin / 2) of pairs
  int64_t taps = 0;      // kt * kh * kw
  int64_t K = 0;         // the GEMM's K
  int64_t kp = 0;        // 32-bit words of a packed row of A or W
  // The padded copy covers `slab` output frames of one batch element at a time (a VAE's input
  // can be far larger than the copy's bound): Tp input frames of Hp rows of Wp words per channel.
  int64_t slab = 0;
  int64_t Tp = 0, Hp = 0, Wp = 0;
  bool channel_pairs() const { return pairs && padded; }
};

// Input frames read by `out_frames` consecutive output frames.
inline int64_t input_frames_of(const Conv3dParams& p, int64_t out_frames) { return (out_frames - 1) * p.st + (p.kt - 1) * p.dt + 1; }

inline ConvLayout conv_layout(const Conv3dParams& p) {
  ConvLayout l;
  l.pairs = packs_bf16_pairs(p.dtype);
  l.taps = p.kt * p.kh * p.kw;
  l.Hp = (p.Ho - 1) * p.sh + (p.kh - 1) * p.dh + 1;
  l.Wp = (p.Wo - 1) * p.sw + (p.kw - 1) * p.dw + 1;
  l.channels = l.pairs ? (p.Cin + 1) / 2 : p.Cin;
  if (padded_gather_pays(p)) {
    const int64_t frame_words = l.channels * l.Hp * l.Wp;
    int64_t slab = p.To;  // the most output frames whose padded input fits the bound
    while (slab > 0 && input_frames_of(p, slab) * frame_words > conv_slab_max_words()) slab--;
    if (slab > 0) {
      l.padded = true;
      l.slab = slab;
      l.Tp = input_frames_of(p, slab);
    }
  }
  if (!l.padded) l.channels = p.Cin;
  l.K = l.channel_pairs() ? 2 * l.channels * l.taps : p.Cin * l.taps;
  l.kp = l.pairs ? (l.K + 1) / 2 : l.K;
  return l;
}

// W [Cout, K] in NR-column panels, K-major, in the caller's slot-1 scratch: f32 values, or bf16
// pairs along K in the layout's order.
template <typename T>
const void* pack_conv_weight(const Conv3dParams& p, const ConvLayout& l) {
  const int nr = cpu_kernels().nr;
  const int64_t K = p.Cin * l.taps;
  const int64_t n_panels = (p.Cout + nr - 1) / nr;
  float* w_packed = thread_scratch(size_t(n_panels * nr * l.kp), 1);
  const T* w = static_cast<const T*>(p.weight);
  int64_t row_length = K;
  std::vector<T> reordered;  // channel pairs: W[co][(c / 2, tap, c % 2)], a zero channel past an odd Cin
  if (l.channel_pairs()) {
    reordered.assign(size_t(p.Cout * l.K), T{});
    parallel_for(p.Cout, [&](int64_t co, int) {
      for (int64_t ci = 0; ci < p.Cin; ci++)
        for (int64_t t = 0; t < l.taps; t++) reordered[size_t(co * l.K + ((ci / 2) * l.taps + t) * 2 + ci % 2)] = w[co * K + ci * l.taps + t];
    });
    w = reordered.data();
    row_length = l.K;
  }
  parallel_for(n_panels, [&](int64_t panel, int) {
    const T* rows[kMaxPanelWidth];
    for (int j = 0; j < nr; j++) rows[j] = panel * nr + j < p.Cout ? w + (panel * nr + j) * row_length : nullptr;
    if constexpr (std::is_same_v<T, bf16>) {
      if (l.pairs) {
        pack_panel(rows, nr, row_length, reinterpret_cast<uint32_t*>(w_packed) + panel * nr * l.kp);
        return;
      }
    }
    pack_panel(rows, nr, row_length, w_packed + panel * nr * l.kp);
  });
  return w_packed;
}

// The padded copy for batch element b and output frames [t0, t0 + out_frames).
template <typename T>
PaddedInput padded_input(const Conv3dParams& p, const ConvLayout& l, int64_t b, int64_t t0, int64_t out_frames) {
  PaddedInput pi;
  if (l.pairs && !std::is_same_v<T, bf16>) throw std::logic_error("conv: bf16 pairs of a non-bf16 input");
  const int64_t needed = input_frames_of(p, out_frames), frame = l.Hp * l.Wp;
  float* data = thread_scratch(size_t(l.channels * l.Tp * frame), 2);
  parallel_for(l.channels * needed, [&](int64_t f, int) {
    const int64_t tp = f % needed, c = f / needed;
    float* dst = data + (c * l.Tp + tp) * frame;
    int64_t ti = t0 * p.st + tp - p.pad_t_front;
    if (p.replicate_time) ti = std::min<int64_t>(std::max<int64_t>(ti, 0), p.T - 1);
    if (ti < 0 || ti >= p.T) {
      std::fill(dst, dst + frame, 0.0f);
      return;
    }
    const auto input_frame = [&](int64_t ci) { return static_cast<const T*>(p.x) + ((b * p.Cin + ci) * p.T + ti) * p.H * p.W; };
    const T* even = input_frame(l.pairs ? 2 * c : c);
    const T* odd = l.pairs && 2 * c + 1 < p.Cin ? input_frame(2 * c + 1) : nullptr;
    for (int64_t hp = 0; hp < l.Hp; hp++) {
      float* row = dst + hp * l.Wp;
      const int64_t hi = hp - p.pad_h;
      std::fill(row, row + l.Wp, 0.0f);
      if (hi < 0 || hi >= p.H) continue;
      const int64_t w_count = std::min<int64_t>(l.Wp, p.pad_w + p.W) - p.pad_w;
      if (w_count <= 0) continue;
      if (!l.pairs) {
        cpu_kernels().to_f32(dtype_of<T>(), even + hi * p.W, row + p.pad_w, w_count);
        continue;
      }
      if constexpr (std::is_same_v<T, bf16>) {
        uint32_t* words = reinterpret_cast<uint32_t*>(row + p.pad_w);
        const T* lo = even + hi * p.W;
        if (odd) {
          const T* high = odd + hi * p.W;
          for (int64_t i = 0; i < w_count; i++) words[i] = uint32_t(lo[i].bits) | (uint32_t(high[i].bits) << 16);
        } else {
          for (int64_t i = 0; i < w_count; i++) words[i] = lo[i].bits;
        }
      }
    }
  });
  pi.data = data;
  return pi;
}

// Where the taps of the positions [first, first + count) start in the padded input (positions
// past `count` repeat the last one: rows not stored), in the copy of the slab from output frame t0.
inline void padded_offsets(const Conv3dParams& p, const ConvLayout& l, int64_t t0, int64_t first, int64_t count, int64_t mr, int64_t* offset) {
  for (int64_t r = 0; r < mr; r++) {
    const int64_t pos = first + std::min(r, count - 1);
    const int64_t to = pos / (p.Ho * p.Wo), ho = (pos / p.Wo) % p.Ho, wo = pos % p.Wo;
    offset[r] = (((to - t0) * p.st) * l.Hp + ho * p.sh) * l.Wp + wo * p.sw;
  }
}

// The padded copy's word of each step of packed K ((c, a, e, f): c a channel or a channel pair),
// for the gather (kernels.h conv_gather).
inline std::vector<int64_t> padded_taps(const Conv3dParams& p, const ConvLayout& l) {
  std::vector<int64_t> tap;
  tap.reserve(size_t(l.channels * l.taps));
  for (int64_t c = 0; c < l.channels; c++)
    for (int64_t a = 0; a < p.kt; a++)
      for (int64_t e = 0; e < p.kh; e++)
        for (int64_t f = 0; f < p.kw; f++) tap.push_back(((c * l.Tp + a * p.dt) * l.Hp + e * p.dh) * l.Wp + f * p.dw);
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

// Output positions [begin, begin + positions) of batch element b into c[(pos - begin) * ldc + co]
// (position-major), as one parallel loop over blocks of positions, gathered from `padded` (the
// copy of the frames these positions read, from output frame t0 on) or, when it is null,
// directly from the input.
template <typename T>
void conv_rows(const Conv3dParams& p, const ConvLayout& l, int64_t b, int64_t begin, int64_t positions, const PaddedInput* padded,
               int64_t t0, const void* w_packed, T* c, int64_t ldc) {
  const CpuKernels& kern = cpu_kernels();
  const int64_t mr = kern.mr;
  if (mr > kMaxMr) throw std::logic_error("conv gather: micro-kernel rows exceed kMaxMr");
  // positions per task: up to 8 micro-kernel rows, fewer when that would leave threads idle
  const int64_t min_tasks = 4 * int64_t(thread_count());
  const int64_t mc = std::max<int64_t>(mr, std::min<int64_t>(mr * kMaxTaskPanels, (positions / min_tasks) / mr * mr));
  // from the padded copy every step of K (an f32 value or a channel pair) is one word: kp taps
  const std::vector<int64_t> taps = padded ? padded_taps(p, l) : std::vector<int64_t>();
  // the direct gather writes f32 panels; as pairs they are then regathered from that panel
  // ([K][mr]: tap k at k * mr, row r at r)
  std::vector<int64_t> panel_taps, panel_rows;
  if (!padded && l.pairs) {
    for (int64_t k = 0; k < l.K; k++) panel_taps.push_back(k * mr);
    for (int64_t r = 0; r < mr; r++) panel_rows.push_back(r);
  }
  const T* xb = static_cast<const T*>(p.x) + b * p.Cin * p.T * p.H * p.W;
  parallel_for((positions + mc - 1) / mc, [&](int64_t task, int) {
    const int64_t m0 = task * mc, rows = std::min(mc, positions - m0);  // relative to begin
    const int64_t panels = (rows + mr - 1) / mr;
    float* a_packed = thread_scratch(size_t(panels * mr * l.kp), 0);  // f32 values or bf16 pairs (32-bit words)
    if (padded) {
      // the task's panels in one call (kernels.h): they share the input rows of every tap
      int64_t offset[kMaxTaskPanels * kMaxMr];
      for (int64_t panel = 0; panel < panels; panel++) {
        const int64_t first = begin + m0 + panel * mr, count = std::min(mr, rows - panel * mr);
        padded_offsets(p, l, t0, first, count, mr, offset + panel * mr);
      }
      kern.conv_gather(padded->data, taps.data(), l.kp, offset, int(mr), int(panels), l.kp * mr, false, a_packed);
    } else {
      for (int64_t panel = 0; panel < panels; panel++) {
        float* dst = a_packed + panel * l.kp * mr;
        const int64_t first = begin + m0 + panel * mr, count = std::min(mr, rows - panel * mr);
        if (!l.pairs) {
          gather_panel_direct<T>(p, xb, first, count, mr, dst);
          continue;
        }
        float* f32_panel = thread_scratch(size_t(l.K * mr), 4);
        gather_panel_direct<T>(p, xb, first, count, mr, f32_panel);
        kern.conv_gather(f32_panel, panel_taps.data(), l.K, panel_rows.data(), int(mr), 1, l.kp * mr, true, dst);
      }
    }
    LinearParams g{};
    g.dtype = p.dtype;
    g.M = positions; g.N = p.Cout; g.K = l.K;
    g.c = c; g.ldc = ldc;
    g.bias = p.bias;
    g.act = Activation::None;
    if (l.pairs) {
      kern.gemm_block_bf16(g, reinterpret_cast<const uint32_t*>(a_packed), m0, rows, static_cast<const uint32_t*>(w_packed), 0, p.Cout);
    } else {
      kern.gemm_block(g, a_packed, m0, rows, static_cast<const float*>(w_packed), 0, p.Cout);
    }
  });
}

// Output frames [t0, t0 + frames) of batch element b into c (position-major, row 0 = the first
// position of frame t0), through a padded copy of the frames they read when the layout has one.
template <typename T>
void conv_frames(const Conv3dParams& p, const ConvLayout& l, int64_t b, int64_t t0, int64_t frames, const void* w_packed, T* c, int64_t ldc) {
  const int64_t frame_positions = p.Ho * p.Wo;
  if (!l.padded) return conv_rows<T>(p, l, b, t0 * frame_positions, frames * frame_positions, nullptr, 0, w_packed, c, ldc);
  for (int64_t f0 = 0; f0 < frames; f0 += l.slab) {  // (the copy holds at most l.slab frames' input)
    const int64_t n = std::min(l.slab, frames - f0);
    const PaddedInput padded = padded_input<T>(p, l, b, t0 + f0, n);
    conv_rows<T>(p, l, b, (t0 + f0) * frame_positions, n * frame_positions, &padded, t0 + f0, w_packed, c + f0 * frame_positions * ldc, ldc);
  }
}

}  // namespace dit::cpu
