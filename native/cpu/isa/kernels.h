// The CPU hot loops, compiled once per instruction set from kernels.inc (isa/kernels_*.cpp) and
// picked at run time by cpu_kernels() after checking what the processor supports, so one binary
// runs on any x86-64 and uses AVX-512 where it exists.
#pragma once
#include <cstdint>
#include "../../common/op_params.h"

namespace dit::cpu {

struct CpuKernels {
  const char* isa;  // "avx512bf16", "avx512", "avx2" or "sse2"
  int mr, nr;       // GEMM micro-tile: rows of A, columns of W per micro-kernel call
  // C block [m0, m0 + m_count) x [n0, n0 + n_count) from packed A (MR-row panels, K-major) and
  // packed W (NR-column panels, K-major), epilogue of p applied, stored to p.c.
  void (*gemm_block)(const LinearParams& p, const float* a_packed, int64_t m0, int64_t m_count,
                     const float* w_packed, int64_t n0, int64_t n_count);
  // Rows of C for small M: a_f32 holds A as f32 [M, K] (nullptr for bf16 on AVX512-BF16, which
  // reads p.a as it is); columns [n_begin, n_end).
  void (*gemv)(const LinearParams& p, const float* a_f32, int64_t n_begin, int64_t n_end);
  // Key block [j0, j0 + kAttentionKeyBlock) of one (b, h) converted to f32 (K transposed, then V):
  // attention_kv_block_floats(Dh) floats at out.
  void (*attention_prepare_kv)(const AttentionParams& p, int64_t b, int64_t h, int64_t j0, float* out);
  int64_t (*attention_kv_block_floats)(int64_t Dh);
  // One (b, h) pair and query rows [i0, i0 + rows), reading that pair's converted key blocks (kv);
  // scratch holds attention_scratch_floats floats.
  void (*attention)(const AttentionParams& p, int64_t b, int64_t h, int64_t i0, int64_t rows, float* scratch, const float* kv);
  int64_t (*attention_scratch_floats)(int64_t Dh);
  // y[i] = act(x[i]) in f32, vectorised (used by the elementwise ops)
  void (*activation_f32)(Activation act, const float* x, float* y, int64_t n);
  // adaLN modulate of rows [r0, r1) of p (row: p.D floats of scratch)
  void (*layer_norm_modulate_rows)(const LayerNormModulateParams& p, int64_t r0, int64_t r1, float* row);
  // n contiguous elements of a floating dtype to f32 and back (vectorised; f16 by F16C where the
  // ISA has it); other dtypes are ignored (callers dispatch with dispatch_float first)
  void (*to_f32)(DType dtype, const void* x, float* y, int64_t n);
  void (*from_f32)(DType dtype, const float* x, void* y, int64_t n);
  // The bf16 GEMM block on AVX512-BF16 (nullptr on the other ISAs): as gemm_block, with A and W
  // packed as bf16 pairs along K (cpu/pack.h), K2 = ceil(K / 2) pairs per row.
  void (*gemm_block_bf16)(const LinearParams& p, const uint32_t* a_pairs, int64_t m0, int64_t m_count,
                          const uint32_t* w_pairs, int64_t n0, int64_t n_count);
  // The first of `words` K steps of a panel of 32-bit words (cpu/pack.h: f32 values or bf16 pairs),
  // in whole blocks of 16 by word transposes; returns how many it packed (nullptr below AVX-512).
  int64_t (*pack_words)(const void* const* rows, int width, int64_t words, uint32_t* panel);
  // Micro-panels (mr rows each, panel q at word q * panel_words) of a convolution's packed A
  // (cpu/conv_gemm.h): word (r, k) of panel q = x[tap[k] + offset[q * mr + r]] at word k * mr + r,
  // moved as it is (the padded copy's f32 values or bf16 channel pairs). With `pairs`, x holds f32
  // values that are bf16 exactly (the direct gather's f32 panel) and taps 2 kp and 2 kp + 1 of
  // row r become the bf16 pair at word kp * mr + r, the layout of gemm_block_bf16 (a zero high
  // half past an odd K).
  void (*conv_gather)(const float* x, const int64_t* tap, int64_t K, const int64_t* offset, int mr, int panels,
                      int64_t panel_words, bool pairs, void* dst);
};

const CpuKernels& cpu_kernels();

const CpuKernels& kernels_avx512bf16();
const CpuKernels& kernels_avx512();
const CpuKernels& kernels_avx2();
const CpuKernels& kernels_sse2();

constexpr int64_t kAttentionQueryRows = 128;  // query rows per attention task
constexpr int64_t kAttentionKeyBlock = 64;   // keys per online-softmax step

}  // namespace dit::cpu
