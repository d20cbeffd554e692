// Flash-style attention: K and V are converted to f32 key blocks once per (b, h) (K transposed for
// the score loop), then tasks of (b, h, 128 query rows) walk the blocks with an online softmax, so
// the memory is O(M x Dh) for K/V and O(rows x Dh) per task, never N x M.
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
  const int64_t k_blocks = (p.M + kAttentionKeyBlock - 1) / kAttentionKeyBlock;
  const int64_t block_floats = kern.attention_kv_block_floats(p.Dh);
  float* kv = thread_scratch(size_t(p.B * p.H * k_blocks * block_floats), 3);
  parallel_for(p.B * p.H * k_blocks, [&](int64_t task, int) {
    const int64_t kb = task % k_blocks, bh = task / k_blocks;
    kern.attention_prepare_kv(p, bh / p.H, bh % p.H, kb * kAttentionKeyBlock, kv + task * block_floats);
  });
  parallel_for(p.B * p.H * q_blocks, [&](int64_t task, int) {
    const int64_t qb = task % q_blocks, bh = task / q_blocks;
    const int64_t i0 = qb * kAttentionQueryRows;
    kern.attention(p, bh / p.H, bh % p.H, i0, std::min(kAttentionQueryRows, p.N - i0), thread_scratch(scratch, 2),
                   kv + bh * k_blocks * block_floats);
  });
}

}  // namespace dit::cpu
