// linear / GEMM: C[m, n] = epilogue(sum_k A[m, k] W[n, k]) with PyTorch's weight layout [N, K].
// W is packed once per call into NR-column f32 panels (or once at load: w_packed), A once per call
// into MR-row panels, both shared by all threads; each task runs the ISA micro-kernel over an
// MC x NC block.
// The whole K is one pass (no K blocking): the epilogue then works on registers, and the DiT
// sizes (K <= 4608) keep a W panel within L2. M <= 4 (adaLN, embedders) takes the gemv path.
#include <algorithm>

#include "isa/kernels.h"
#include "ops.h"
#include "pack.h"
#include "scratch.h"
#include "thread_pool.h"

namespace dit::cpu {

namespace {

constexpr int64_t kSmallM = 4;

template <typename T>
void pack_w_panel(const LinearParams& p, int nr, int64_t panel, float* dst) {
  const T* w = static_cast<const T*>(p.w);
  const int64_t n0 = panel * nr;
  for (int j = 0; j < nr; j++) pack_row<T>(n0 + j < p.N ? w + (n0 + j) * p.ldw : nullptr, p.K, nr, j, dst);
}

template <typename T>
void pack_a_block(const LinearParams& p, int mr, int64_t m0, int64_t rows, float* dst) {
  const T* a = static_cast<const T*>(p.a);
  for (int64_t i0 = 0; i0 < rows; i0 += mr) {
    float* panel = dst + (i0 / mr) * p.K * mr;
    for (int r = 0; r < mr; r++) pack_row<T>(i0 + r < rows ? a + (m0 + i0 + r) * p.lda : nullptr, p.K, mr, r, panel);
  }
}

template <typename T>
void linear_t(const LinearParams& p) {
  const CpuKernels& kern = cpu_kernels();
  if (p.M <= kSmallM && !p.w_packed) {
    float* a32 = thread_scratch(size_t(p.M * p.K), 1);
    const T* a = static_cast<const T*>(p.a);
    for (int64_t m = 0; m < p.M; m++) kern.to_f32(p.dtype, a + m * p.lda, a32 + m * p.K, p.K);
    const int64_t chunk = 64;
    parallel_for((p.N + chunk - 1) / chunk, [&](int64_t t, int) {
      kern.gemv(p, a32, t * chunk, std::min(p.N, (t + 1) * chunk));
    });
    return;
  }
  const int mr = kern.mr, nr = kern.nr;
  const int64_t n_panels = (p.N + nr - 1) / nr;
  const float* w_packed = p.w_packed;
  if (!w_packed) {
    float* packed = thread_scratch(size_t(n_panels * nr * p.K), 1);
    parallel_for(n_panels, [&](int64_t panel, int) { pack_w_panel<T>(p, nr, panel, packed + panel * nr * p.K); });
    w_packed = packed;
  }

  // A packed once for all tasks (each MC-row block used to be packed once per column block: N / NC
  // times over), in parallel over MR-row panels, a stripe of rows at a time so the packed copy
  // stays bounded (16 MC blocks: 1536 x K floats with AVX-512)
  const int64_t mc = int64_t(mr) * 8;  // rows of A per task (its packed A ~ mc * K floats in L2)
  const int64_t nc = int64_t(nr) * 8;  // columns per task
  const int64_t stripe = 16 * mc, n_blocks = (p.N + nc - 1) / nc;
  float* a_packed = thread_scratch(size_t(std::min(stripe, (p.M + mr - 1) / mr * mr) * p.K), 2);
  for (int64_t s0 = 0; s0 < p.M; s0 += stripe) {
    const int64_t stripe_rows = std::min(stripe, p.M - s0);
    parallel_for((stripe_rows + mr - 1) / mr, [&](int64_t panel, int) {
      const int64_t r0 = panel * mr;
      pack_a_block<T>(p, mr, s0 + r0, std::min<int64_t>(mr, stripe_rows - r0), a_packed + r0 * p.K);
    });
    const int64_t m_blocks = (stripe_rows + mc - 1) / mc;
    parallel_for(m_blocks * n_blocks, [&](int64_t task, int) {
      const int64_t mb = task / n_blocks, nb = task % n_blocks;
      const int64_t r0 = mb * mc, rows = std::min(mc, stripe_rows - r0);
      const int64_t n0 = nb * nc, cols = std::min(nc, p.N - n0);
      kern.gemm_block(p, a_packed + r0 * p.K, s0 + r0, rows, w_packed + (n0 / nr) * nr * p.K, n0, cols);
    });
  }
}

}  // namespace

void linear(const LinearParams& p) {
  if (p.M == 0 || p.N == 0) return;
  dispatch_float(p.dtype, [&](auto tag) { linear_t<decltype(tag)>(p); });
}

void pack_linear_weight(const PackWeightParams& pw) {
  const int nr = cpu_kernels().nr;
  LinearParams p{};
  p.N = pw.N; p.K = pw.K; p.w = pw.w; p.ldw = pw.K;
  dispatch_float(pw.dtype, [&](auto tag) {
    parallel_for((pw.N + nr - 1) / nr, [&](int64_t panel, int) {
      pack_w_panel<decltype(tag)>(p, nr, panel, pw.out + panel * nr * pw.K);
    });
  });
}

}  // namespace dit::cpu
