// Convolution kernels besides conv3d.cu's im2col path (conv3d.cu picks among them).
#pragma once
#include "common.cuh"

namespace dit::cuda {

// Implicit-GEMM mma.sync convolution for T = __half / __nv_bfloat16; false (nothing launched)
// when Cin is not a multiple of 8 or a size does not fit its 32-bit coordinates.
template <typename T>
bool conv3d_mma(const Conv3dParams& p);

// The same on Hopper's wgmma (conv3d_wgmma.cu): also false when the device is not compute
// capability 9.0.
template <typename T>
bool conv3d_wgmma(const Conv3dParams& p);

// The same on the TMA GEMM (conv3d_tma.cu): also false for strides other than 1, Cin not a
// multiple of 64, Wo under 64 or not a multiple of 8, or an output its tensor map cannot take.
template <typename T>
bool conv3d_tma(const Conv3dParams& p);

}  // namespace dit::cuda
