// tma_maps.h: the tensor maps of the TMA kernels, through the driver's encoder.
#include "tma_maps.h"

#include <cuda_runtime.h>

namespace dit::cuda::tma {

namespace {

using EncodeTiled = CUresult (*)(CUtensorMap*, CUtensorMapDataType, cuuint32_t, void*, const cuuint64_t*, const cuuint64_t*,
                                 const cuuint32_t*, const cuuint32_t*, CUtensorMapInterleave, CUtensorMapSwizzle,
                                 CUtensorMapL2promotion, CUtensorMapFloatOOBfill);

// nullptr when the driver does not have it
EncodeTiled encode_tiled() {
  static const EncodeTiled fn = [] {
    void* f = nullptr;
    cudaDriverEntryPointQueryResult found{};
    if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &f, 12000, cudaEnableDefault, &found) != cudaSuccess ||
        found != cudaDriverEntryPointSuccess) {
      cudaGetLastError();
      return EncodeTiled(nullptr);
    }
    return reinterpret_cast<EncodeTiled>(f);
  }();
  return fn;
}

}  // namespace

bool available() { return encode_tiled() != nullptr; }

bool encode(CUtensorMap* map, bool f16, const void* base, int rank, const int64_t* dims, const int64_t* strides, const uint32_t* box) {
  constexpr int kMaxRank = 5;
  if (!available() || rank < 2 || rank > kMaxRank) return false;
  cuuint64_t global_dims[kMaxRank], global_strides[kMaxRank - 1];
  cuuint32_t box_dims[kMaxRank], element_strides[kMaxRank];
  for (int d = 0; d < rank; d++) {
    if (dims[d] <= 0 || strides[d] < 0) return false;
    global_dims[d] = cuuint64_t(dims[d]);
    if (d > 0) global_strides[d - 1] = cuuint64_t(strides[d]) * 2;  // bytes, dimension 0's implied
    box_dims[d] = box[d];
    element_strides[d] = 1;
  }
  return encode_tiled()(map, f16 ? CU_TENSOR_MAP_DATA_TYPE_FLOAT16 : CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, cuuint32_t(rank), const_cast<void*>(base),
                        global_dims, global_strides, box_dims, element_strides, CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
                        CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE) == CUDA_SUCCESS;
}

}  // namespace dit::cuda::tma
