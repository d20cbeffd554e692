// GEMM kernels of the linear op besides the ones in linear.cu (which picks among them). Each takes
// f16 / bf16 with rows of A and W readable 16 bytes at a time (A, W 16-byte aligned; K, lda, ldw
// multiples of 8), which linear.cu checks before it calls any of them.
#pragma once
#include "common.cuh"

namespace dit::cuda {

// mma.sync tensor-core GEMM for T = __half / __nv_bfloat16; false (nothing launched) when M
// exceeds its grid.
template <typename T>
bool linear_mma(const LinearParams& p);

// wgmma (Hopper) GEMM for T = __half / __nv_bfloat16: false (nothing launched) when the device is
// not compute capability 9.0 or M exceeds its grid.
template <typename T>
bool linear_wgmma(const LinearParams& p);
// The same with TMA loads and a producer warpgroup (linear_tma.cu), storing C through shared memory
// with TMA (Staged) or from registers; also false when the driver cannot encode the tensor maps
// (Staged: C and the residual 16-byte aligned, ldc a multiple of 8, as well).
enum class TmaEpilogue { Staged, Registers };
template <typename T>
bool linear_tma(const LinearParams& p, TmaEpilogue epilogue);

}  // namespace dit::cuda
