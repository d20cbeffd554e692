// The implicit-GEMM convolutions' layout passes (conv3d_implicit.cuh says why they exist): the
// weight with its taps before its input channels, and one batch element of the input channels-last.
#include "backend.h"
#include "conv3d_implicit.cuh"

namespace dit::cuda::conv {

namespace {

// in [C][S] -> out [S][C], in 32 x 32 tiles through shared memory (both sides coalesced)
template <typename T>
__global__ void channels_last_kernel(const T* src, T* dst, int64_t C, int64_t S) {
  __shared__ T tile[32][33];
  const int64_t c0 = int64_t(blockIdx.y) * 32, s0 = int64_t(blockIdx.x) * 32;
  for (int i = threadIdx.y; i < 32; i += blockDim.y) {
    const int64_t c = c0 + i, s = s0 + threadIdx.x;
    if (c < C && s < S) tile[i][threadIdx.x] = src[c * S + s];
  }
  __syncthreads();
  for (int i = threadIdx.y; i < 32; i += blockDim.y) {
    const int64_t s = s0 + i, c = c0 + threadIdx.x;
    if (c < C && s < S) dst[s * C + c] = tile[threadIdx.x][i];
  }
}

// W [Cout][Cin][taps] -> W' [Cout][taps][Cin]
template <typename T>
__global__ void weight_taps_first_kernel(const T* w, T* out, int64_t cout, int64_t cin, int64_t taps) {
  const int64_t n = cout * cin * taps;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t c = i % cin, tap = (i / cin) % taps, co = i / (cin * taps);
    out[i] = w[(co * cin + c) * taps + tap];
  }
}

}  // namespace

void weight_taps_first(const Conv3dParams& p, void* w_taps) {
  const int64_t taps = p.kt * p.kh * p.kw;
  dispatch(p.dtype, [&](auto tag) {
    using T = decltype(tag);
    weight_taps_first_kernel<T><<<grid_for(p.Cout * p.Cin * taps, 256), 256, 0, stream()>>>(
        static_cast<const T*>(p.weight), static_cast<T*>(w_taps), p.Cout, p.Cin, taps);
  });
  check_launch("conv3d weight layout");
}

void channels_last(const Conv3dParams& p, int64_t b, void* x_cl) {
  const int64_t S = p.T * p.H * p.W;
  dispatch(p.dtype, [&](auto tag) {
    using T = decltype(tag);
    channels_last_kernel<T><<<dim3(unsigned((S + 31) / 32), unsigned((p.Cin + 31) / 32), 1), dim3(32, 8), 0, stream()>>>(
        static_cast<const T*>(p.x) + b * p.Cin * S, static_cast<T*>(x_cl), p.Cin, S);
  });
  check_launch("conv3d channels-last");
}

}  // namespace dit::cuda::conv
