// One plain parameter struct per op, shared by the CPU and CUDA backends. Pointers are already
// offset to the first element; strides are in elements. The N-API glue (addon/ops.cpp) fills them
// from arguments that lib/ has validated; kernels trust them.
#pragma once
#include <cstdint>
#include "dtype.h"

namespace dit {

enum class Activation : int32_t { None = 0, GeluTanh = 1, Silu = 2, Gelu = 3 };

// C[m, n] = epilogue(sum_k A[m, k] * W[n, k]); with a gate: C = residual + gate[m / rows_per_gate, n] * (...)
struct LinearParams {
  DType dtype;
  int64_t M, N, K;
  const void* a; int64_t lda;
  const void* w; int64_t ldw;
  void* c; int64_t ldc;
  const void* bias;            // [N] or nullptr
  Activation act;
  const void* gate;            // [M / rows_per_gate, gate_stride] or nullptr
  int64_t gate_stride, rows_per_gate;
  const void* residual;        // [M, ldc]; may alias c
  const float* w_packed;       // CPU: W already in the GEMM's panel layout (pack_linear_weight), or nullptr
};

// CPU only: W [N, K] into the GEMM's NR-column f32 panels once, so linear skips packing per call.
struct PackWeightParams {
  DType dtype; int64_t N, K; const void* w; float* out;
};

// out = LayerNorm(x) * (1 + scale[b]) + shift[b], over rows of D; x is [B, N, D] contiguous
struct LayerNormModulateParams {
  DType dtype;
  int64_t B, N, D;
  const void* x; void* out;
  const void* shift; const void* scale; int64_t mod_stride;  // row b of shift/scale at b * mod_stride
  float eps;
};

// out = x + gate[b] * y over [B, N, D]; out may alias x
struct GatedResidualParams {
  DType dtype;
  int64_t B, N, D;
  const void* x; const void* gate; int64_t gate_stride; const void* y; void* out;
};

// O[b, h, n, :] = softmax(scale * Q K^T) V, flash-style. Element (b, h, i, d) of X at
// X + b * sb + h * sh + i * sn + d.
struct AttentionParams {
  DType dtype;
  int64_t B, H, N, M, Dh;
  const void* q; int64_t q_sb, q_sh, q_sn;
  const void* k; int64_t k_sb, k_sh, k_sn;
  const void* v; int64_t v_sb, v_sh, v_sn;
  void* o; int64_t o_sb, o_sh, o_sn;
  float scale;
};

// Direct 3-D convolution (NCTHW), used for conv3d, causalConv3d and patchEmbed3d. Time padding can
// be asymmetric and replicate the edge frame; space padding is zeros.
struct Conv3dParams {
  DType dtype;
  int64_t B, Cin, T, H, W;
  int64_t Cout, kt, kh, kw;
  int64_t st, sh, sw;
  int64_t dt, dh, dw;
  int64_t pad_t_front, pad_t_back, pad_h, pad_w;
  bool replicate_time;
  int64_t To, Ho, Wo;
  const void* x; const void* weight; const void* bias; void* out;
};

// PatchEmbed3D: zero-pad to multiples of the patch, conv with stride = kernel, flatten to [B, N, D]
struct PatchEmbedParams {
  DType dtype;
  int64_t B, C, T, H, W, D, pt, ph, pw;
  const void* x; const void* weight; const void* bias; void* out;
};

// out[b, :] = [cos(t[b] * f) | sin(t[b] * f)], f_k = exp(-ln(max_period) * k / half)
struct TimestepEmbeddingParams {
  DType dtype;  // of out; t is f32
  int64_t B, dim;
  const float* t; void* out;
  float max_period;
};

struct UnaryParams {  // elementwise activation over count elements
  DType dtype; int64_t count; const void* x; void* out; Activation act;
};

// out[b, n, :] = x[b, n, :] + table[n % rows_a, :] (+ table_b[n / rows_a... ]) : positional add
// out[i, :] = x[i, :] + add[(i / add_repeat) % add_rows, :] over rows of D
struct AddRowsParams {
  DType dtype; int64_t rows, D;
  const void* x; const void* add; int64_t add_rows, add_repeat; void* out;
};

struct UnpatchifyParams {
  DType dtype;  // of x; out is the same dtype
  int64_t B, t, h, w, pt, ph, pw, C;
  const void* x; void* out;
};

struct EmbeddingParams {  // out[b, :] = table[ids[b], :] (ids outside [0, rows) give an error / zero rows)
  DType dtype; int64_t B, D, rows; const int32_t* ids; const void* table; void* out;
};

struct CfgCombineParams {  // guided = uncond + s * (cond - uncond) on the first `guided` channels
  DType dtype; int64_t B, C, S, guided; float scale;
  const void* cond; const void* uncond; void* out;  // cond/uncond/out: [B, C, S]
};

struct CastParams {
  DType src_dtype, dst_dtype; int64_t count; const void* src; void* dst;
};

// Every op as X(function, params): each backend declares (and a CPU-only build stubs) the list
// from here, so adding an op to a backend's header is one line.
#define DIT_OPS(X)                                  \
  X(linear, LinearParams)                           \
  X(layer_norm_modulate, LayerNormModulateParams)   \
  X(gated_residual, GatedResidualParams)            \
  X(attention, AttentionParams)                     \
  X(conv3d, Conv3dParams)                           \
  X(patch_embed3d, PatchEmbedParams)                \
  X(timestep_embedding, TimestepEmbeddingParams)    \
  X(unary, UnaryParams)                             \
  X(add_rows, AddRowsParams)                        \
  X(unpatchify, UnpatchifyParams)                   \
  X(embedding, EmbeddingParams)                     \
  X(cfg_combine, CfgCombineParams)                  \
  X(cast, CastParams)                               \
  X(pack_linear_weight, PackWeightParams)

#define DIT_DECLARE_OP(name, Params) void name(const Params& p);

}  // namespace dit
