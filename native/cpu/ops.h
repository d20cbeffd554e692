// CPU implementations of the ops: one function per op, one file per op (native/cpu/<op>.cpp).
// Each runs on the CPU queue's executor thread and may use parallel_for.
#pragma once
#include "../common/op_params.h"

namespace dit::cpu {

void linear(const LinearParams& p);
void layer_norm_modulate(const LayerNormModulateParams& p);
void gated_residual(const GatedResidualParams& p);
void attention(const AttentionParams& p);
void conv3d(const Conv3dParams& p);
void patch_embed3d(const PatchEmbedParams& p);
void timestep_embedding(const TimestepEmbeddingParams& p);
void unary(const UnaryParams& p);
void add_rows(const AddRowsParams& p);
void unpatchify(const UnpatchifyParams& p);
void embedding(const EmbeddingParams& p);
void cfg_combine(const CfgCombineParams& p);
void cast(const CastParams& p);

}  // namespace dit::cpu
