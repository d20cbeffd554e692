// Tensor maps for the TMA kernels (tma_gemm.cuh), encoded on the host through the driver's
// cuTensorMapEncodeTiled, fetched through the runtime (the addon links no libcuda).
#pragma once
#include <cuda.h>

#include <cstdint>

namespace dit::cuda::tma {

// Whether the driver has cuTensorMapEncodeTiled.
bool available();

// A map of a rank-D tensor (2-5) of 16-bit elements (f16 or bf16), dims[0] innermost and contiguous,
// strides[d] the elements between neighbours along dims[d] (strides[0] is 1), read and written in
// boxes of box[d] elements with the 128-byte swizzle (box[0] * 2 must be 128), elements outside the
// tensor read as zeros and not written. False when the driver refuses it (a base not 16-byte
// aligned, a stride not a multiple of 16 bytes, a dimension over 2^32) or has no encoder.
bool encode(CUtensorMap* map, bool f16, const void* base, int rank, const int64_t* dims, const int64_t* strides, const uint32_t* box);

}  // namespace dit::cuda::tma
