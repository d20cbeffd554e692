// linear / GEMM: C[m, n] = epilogue(sum_k A[m, k] W[n, k]) with PyTorch's weight layout [N, K].
// W is packed once per call into NR-column panels (or once at load: w_packed), A once per call
// into MR-row panels, both shared by all threads; each task runs the ISA micro-kernel over an
// MC x NC block. Panels hold f32 values, or for bf16 on AVX512-BF16 bf16 pairs along K (the
// dot-product instruction runs at twice the f32 FMA rate).
// Each micro-tile takes the whole K in one pass, its epilogue on the registers (gemm_block_t).
// M <= 4 (adaLN, embedders) takes the gemv path.
#include <algorithm>

#include "isa/kernels.h"
#include "ops.h"
#include "pack.h"
#include "scratch.h"
#include "thread_pool.h"

namespace dit::cpu {

namespace {

constexpr int64_t kSmallM = 4;

// Elements per packed row of K: f32 values, or bf16 pairs.
int64_t packed_row_length(DType dtype, int64_t K) { return packs_bf16_pairs(dtype) ? (K + 1) / 2 : K; }

// W's panel `panel` ([kp][nr], E: f32 values or bf16 pairs) from rows of T.
template <typename T, typename E>
void pack_w_panel(const LinearParams& p, int nr, int64_t panel, E* dst) {
  const T* w = static_cast<const T*>(p.w);
  const T* rows[kMaxPanelWidth];
  for (int j = 0; j < nr; j++) rows[j] = panel * nr + j < p.N ? w + (panel * nr + j) * p.ldw : nullptr;
  pack_panel(rows, nr, p.K, dst);
}

// The packed GEMM over panel element type E (float or bf16 pairs); kp = packed_row_length.
template <typename T, typename E, typename Block>
void gemm_packed(const LinearParams& p, int64_t kp, const E* w_packed, Block block) {
  const CpuKernels& kern = cpu_kernels();
  const int mr = kern.mr, nr = kern.nr;
  const int64_t n_panels = (p.N + nr - 1) / nr;
  if (!w_packed) {
    E* packed = reinterpret_cast<E*>(thread_scratch(size_t(n_panels * nr * kp), 1));
    parallel_for(n_panels, [&](int64_t panel, int) { pack_w_panel<T>(p, nr, panel, packed + panel * nr * kp); });
    w_packed = packed;
  }

  // A packed once for all tasks (each MC-row block used to be packed once per column block: N / NC
  // times over), in parallel over MR-row panels, a stripe of rows at a time so the packed copy
  // stays bounded (16 MC blocks: 1536 x K floats with AVX-512)
  const int64_t mc = int64_t(mr) * 8;  // rows of A per task (its packed A ~ mc * K floats in L2)
  const int64_t nc = int64_t(nr) * 8;  // columns per task
  const int64_t stripe = 16 * mc, n_blocks = (p.N + nc - 1) / nc;
  E* a_packed = reinterpret_cast<E*>(thread_scratch(size_t(std::min(stripe, (p.M + mr - 1) / mr * mr) * kp), 2));
  const T* a = static_cast<const T*>(p.a);
  for (int64_t s0 = 0; s0 < p.M; s0 += stripe) {
    const int64_t stripe_rows = std::min(stripe, p.M - s0);
    parallel_for((stripe_rows + mr - 1) / mr, [&](int64_t panel, int) {
      const int64_t r0 = panel * mr;
      const T* rows[kMaxPanelWidth];
      for (int r = 0; r < mr; r++) rows[r] = r0 + r < stripe_rows ? a + (s0 + r0 + r) * p.lda : nullptr;
      pack_panel(rows, mr, p.K, a_packed + r0 * kp);
    });
    const int64_t m_blocks = (stripe_rows + mc - 1) / mc;
    parallel_for(m_blocks * n_blocks, [&](int64_t task, int) {
      const int64_t mb = task / n_blocks, nb = task % n_blocks;
      const int64_t r0 = mb * mc, rows = std::min(mc, stripe_rows - r0);
      const int64_t n0 = nb * nc, cols = std::min(nc, p.N - n0);
      block(p, a_packed + r0 * kp, s0 + r0, rows, w_packed + (n0 / nr) * nr * kp, n0, cols);
    });
  }
}

template <typename T>
void linear_t(const LinearParams& p) {
  const CpuKernels& kern = cpu_kernels();
  if (p.M <= kSmallM && !p.w_packed) {
    // A in f32 for the GEMV, except where bf16 runs on the bf16 rows as they are
    float* a32 = packs_bf16_pairs(p.dtype) ? nullptr : thread_scratch(size_t(p.M * p.K), 1);
    const T* a = static_cast<const T*>(p.a);
    for (int64_t m = 0; a32 && m < p.M; m++) kern.to_f32(p.dtype, a + m * p.lda, a32 + m * p.K, p.K);
    const int64_t chunk = 64;
    parallel_for((p.N + chunk - 1) / chunk, [&](int64_t t, int) {
      kern.gemv(p, a32, t * chunk, std::min(p.N, (t + 1) * chunk));
    });
    return;
  }
  if constexpr (sizeof(T) == 2) {
    if (packs_bf16_pairs(p.dtype)) {
      gemm_packed<bf16>(p, packed_row_length(p.dtype, p.K), reinterpret_cast<const uint32_t*>(p.w_packed), kern.gemm_block_bf16);
      return;
    }
  }
  gemm_packed<T>(p, p.K, p.w_packed, kern.gemm_block);
}

}  // namespace

int64_t packed_weight_floats(DType dtype, int64_t N, int64_t K) {
  const int64_t nr = cpu_kernels().nr;
  return (N + nr - 1) / nr * nr * packed_row_length(dtype, K);
}

void linear(const LinearParams& p) {
  if (p.M == 0 || p.N == 0) return;
  dispatch_float(p.dtype, [&](auto tag) { linear_t<decltype(tag)>(p); });
}

void pack_linear_weight(const PackWeightParams& pw) {
  const int nr = cpu_kernels().nr;
  LinearParams p{};
  p.dtype = pw.dtype; p.N = pw.N; p.K = pw.K; p.w = pw.w; p.ldw = pw.K;
  const int64_t kp = packed_row_length(pw.dtype, pw.K);
  const int64_t n_panels = (pw.N + nr - 1) / nr;
  if (packs_bf16_pairs(pw.dtype)) {
    uint32_t* out = reinterpret_cast<uint32_t*>(pw.out);
    parallel_for(n_panels, [&](int64_t panel, int) { pack_w_panel<bf16>(p, nr, panel, out + panel * nr * kp); });
    return;
  }
  dispatch_float(pw.dtype, [&](auto tag) {
    using T = decltype(tag);
    parallel_for(n_panels, [&](int64_t panel, int) { pack_w_panel<T>(p, nr, panel, pw.out + panel * nr * kp); });
  });
}

}  // namespace dit::cpu
