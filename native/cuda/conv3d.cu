// 3-D convolution. f16/bf16 with Cin a multiple of 8 (every VAE layer past the first): the
// implicit GEMM of conv3d_wgmma.cu on compute capability 9.0 (the default there, kernel_choice.h;
// conv3d_tma.cu's, for the shapes it takes, when named or once it is the default), else
// conv3d_mma.cu's. Everything else (f32, odd channel counts, DIT_CUDA_CONV=im2col):
// an im2col GEMM on the GEMM kernels: per chunk of output positions a gather kernel builds
// col[pos, (c, kt, kh, kw)] (stride, dilation, zero space padding, front/back time padding,
// replicate or zeros), then out[b, :, chunk] = W [Cout, K] x col^T.
#include "backend.h"
#include "common.cuh"
#include "conv3d_kernels.h"
#include "kernel_choice.h"

namespace dit::cuda {

namespace {

constexpr int64_t kScratchBytes = int64_t(64) << 20;  // im2col chunk: at most 64 MiB of scratch

template <typename T>
__global__ void im2col_kernel(const Conv3dParams p, int64_t b, int64_t pos0, int64_t count, T* col) {
  const int64_t K = p.Cin * p.kt * p.kh * p.kw;
  const T* x = static_cast<const T*>(p.x) + b * p.Cin * p.T * p.H * p.W;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < count * K; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t pos = pos0 + i / K, kk = i % K;
    const int64_t f = kk % p.kw, e = (kk / p.kw) % p.kh, a = (kk / (p.kw * p.kh)) % p.kt, c = kk / (p.kw * p.kh * p.kt);
    const int64_t to = pos / (p.Ho * p.Wo), ho = (pos / p.Wo) % p.Ho, wo = pos % p.Wo;
    int64_t ti = to * p.st - p.pad_t_front + a * p.dt;
    if (p.replicate_time) ti = ti < 0 ? 0 : (ti >= p.T ? p.T - 1 : ti);
    const int64_t hi = ho * p.sh - p.pad_h + e * p.dh, wi = wo * p.sw - p.pad_w + f * p.dw;
    const bool ok = ti >= 0 && ti < p.T && hi >= 0 && hi < p.H && wi >= 0 && wi < p.W;
    col[i] = ok ? x[((c * p.T + ti) * p.H + hi) * p.W + wi] : from_f32<T>(0.0f);
  }
}

template <typename T>
__global__ void channel_bias_kernel(T* out, const T* bias, int64_t cout, int64_t positions) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < cout * positions; i += int64_t(gridDim.x) * blockDim.x)
    out[i] = from_f32<T>(to_f32(out[i]) + to_f32(bias[i / positions]));
}

}  // namespace

void conv3d(const Conv3dParams& p) {
  const int64_t P = p.To * p.Ho * p.Wo;
  if (p.B == 0 || p.Cout == 0 || P == 0) return;
  const int64_t K = p.Cin * p.kt * p.kh * p.kw;
  dispatch(p.dtype, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (sizeof(T) == 2) {
      const ConvKernel kernel = conv_kernel();
      if (try_hopper(kernel == ConvKernel::Tma, kernel == ConvKernel::Auto, kHopperConvByDefault && kTmaConvByDefault) && conv3d_tma<T>(p)) return;
      if (try_hopper(kernel == ConvKernel::Wgmma, kernel == ConvKernel::Auto, kHopperConvByDefault) && conv3d_wgmma<T>(p)) return;
      if (kernel != ConvKernel::Im2col && conv3d_mma<T>(p)) return;
    }
    // positions per im2col chunk (K = 0, no input channels: one chunk, the output is the bias)
    const int64_t row_bytes = (K > 0 ? K : 1) * int64_t(sizeof(T));
    const int64_t fit = kScratchBytes / row_bytes > 0 ? kScratchBytes / row_bytes : 1;
    const int64_t chunk = P < fit ? P : fit;
    DeviceScratch col(size_t(chunk * K) * sizeof(T));
    for (int64_t b = 0; b < p.B; b++) {
      for (int64_t pos0 = 0; pos0 < P; pos0 += chunk) {
        const int64_t count = P - pos0 < chunk ? P - pos0 : chunk;
        im2col_kernel<T><<<grid_for(count * K, 256), 256, 0, stream()>>>(p, b, pos0, count, static_cast<T*>(col.get()));
        check_launch("conv3d im2col");
        LinearParams g{};
        g.dtype = p.dtype;
        g.M = p.Cout; g.N = count; g.K = K;
        g.a = p.weight; g.lda = K;
        g.w = col.get(); g.ldw = K;
        g.c = static_cast<T*>(p.out) + b * p.Cout * P + pos0; g.ldc = P;
        g.act = Activation::None;
        linear(g);
      }
      if (p.bias) {
        channel_bias_kernel<T><<<grid_for(p.Cout * P, 256), 256, 0, stream()>>>(static_cast<T*>(p.out) + b * p.Cout * P,
                                                                              static_cast<const T*>(p.bias), p.Cout, P);
        check_launch("conv3d bias");
      }
    }
  });
}

}  // namespace dit::cuda
