// Flash-style attention: tasks are (b, h, 64 query rows); the ISA kernel walks the keys in blocks
// with an online softmax, so memory is O(rows x Dh), never N x M.
#include <algorithm>

#include "isa/kernels.h"
#include "ops.h"
#include "scratch.h"
#include "thread_pool.h"

namespace dit::cpu {

void attention(const AttentionParams& p) {
  if (p.B == 0 || p.H == 0 || p.N == 0) return;
  const CpuKernels& kern = cpu_kernels();
  const int64_t q_blocks = (p.N + kAttentionQueryRows - 1) / kAttentionQueryRows;
  const size_t scratch = size_t(kern.attention_scratch_floats(p.Dh));
  parallel_for(p.B * p.H * q_blocks, [&](int64_t task, int) {
    const int64_t qb = task % q_blocks, bh = task / q_blocks;
    const int64_t i0 = qb * kAttentionQueryRows;
    kern.attention(p, bh / p.H, bh % p.H, i0, std::min(kAttentionQueryRows, p.N - i0), thread_scratch(scratch, 2));
  });
}

}  // namespace dit::cpu
