// CPU implementations of the ops: one function per op, one file per op (native/cpu/<op>.cpp).
// Each runs on the CPU queue's executor thread and may use parallel_for.
#pragma once
#include "../common/op_params.h"

namespace dit::cpu {

DIT_OPS(DIT_DECLARE_OP)

// count elements from one dtype to another on this thread (cast, uploads and downloads): the
// floating pairs through the ISA's vector conversions, the rest through convert_elements
void convert(const void* src, DType src_dtype, void* dst, DType dst_dtype, int64_t count);

// floats (4-byte elements) of W [N, K] packed by pack_linear_weight for a GEMM in `dtype`: f32
// values, or bf16 pairs where the ISA has the bf16 GEMM
int64_t packed_weight_floats(DType dtype, int64_t N, int64_t K);

}  // namespace dit::cpu
