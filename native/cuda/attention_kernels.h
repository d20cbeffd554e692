// Attention kernels besides the ones in attention.cu (which picks among them).
#pragma once
#include "common.cuh"

namespace dit::cuda {

// FlashAttention-2-style mma.sync kernel for T = __half / __nv_bfloat16; false (nothing launched)
// when the head dim or the strides do not fit it.
template <typename T>
bool attention_mma(const AttentionParams& p);

}  // namespace dit::cuda
