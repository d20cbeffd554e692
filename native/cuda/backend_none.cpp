// Stand-in for the CUDA backend in a CPU-only build: every entry explains why it cannot run.
#include <stdexcept>

#include "backend.h"

namespace dit::cuda {

namespace {
[[noreturn]] void unavailable() {
  throw std::runtime_error("this build of dit-native was compiled without CUDA (nvcc was not found at build time)");
}
}  // namespace

void* device_alloc(size_t, size_t*) { unavailable(); }
void device_free(void*, size_t, size_t) {}
DeviceMemoryStats device_memory_stats() { return {0, 0, 0}; }
void upload(void*, const void*, size_t) { unavailable(); }
void copy_device_to_device(void*, const void*, size_t) { unavailable(); }
std::function<std::string(void*)> begin_download(const void*, size_t) { unavailable(); }
std::function<std::string()> fence() { unavailable(); }
void synchronize() {}
void linear(const LinearParams&) { unavailable(); }
void layer_norm_modulate(const LayerNormModulateParams&) { unavailable(); }
void gated_residual(const GatedResidualParams&) { unavailable(); }
void attention(const AttentionParams&) { unavailable(); }
void conv3d(const Conv3dParams&) { unavailable(); }
void patch_embed3d(const PatchEmbedParams&) { unavailable(); }
void timestep_embedding(const TimestepEmbeddingParams&) { unavailable(); }
void unary(const UnaryParams&) { unavailable(); }
void add_rows(const AddRowsParams&) { unavailable(); }
void unpatchify(const UnpatchifyParams&) { unavailable(); }
void embedding(const EmbeddingParams&) { unavailable(); }
void cfg_combine(const CfgCombineParams&) { unavailable(); }
void cast(const CastParams&) { unavailable(); }
bool attention_supports_head_dim(int64_t) { return false; }
const char* attention_head_dims() { return "none (CPU-only build)"; }

}  // namespace dit::cuda
