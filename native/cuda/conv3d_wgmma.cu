// 3-D convolution (and so causalConv3d) for f16 / bf16 as an implicit GEMM on Hopper's warpgroup
// tensor cores (wgmma, sm_90a): the cp.async-fed wgmma main loop (gemm_wgmma.cuh) with A = the
// weight W' (128 output channels per block) and B = the col rows the gather loader of
// conv3d_implicit.cuh copies straight from the channels-last input (128 output positions per
// block) into the 128-byte swizzled tiles, and the bias added in the epilogue.
// Built for sm_90a alone (CMakeLists.txt) and launched only on compute capability 9.0 devices.
// The default convolution there (kernel_choice.h): verified and timed on an H200 (0.60 ms against
// conv3d_mma.cu's 0.75 on the bench case).
#include "conv3d_implicit.cuh"
#include "conv3d_kernels.h"
#include "gemm_wgmma.cuh"

namespace dit::cuda {

namespace {

constexpr int kBN = 128;  // output positions per block
constexpr size_t kSharedBytes = wgmma::Shape<kBN>::kSharedBytes;

template <typename T>
__global__ void __launch_bounds__(wgmma::kThreads, 1) conv3d_wgmma_kernel(const Conv3dParams p, const int64_t b, const T* x_cl,
                                                                          const T* w_taps) {
#ifdef DIT_WGMMA_AVAILABLE
  extern __shared__ __align__(1024) unsigned char conv_wgmma_smem_raw[];
  const int64_t positions = p.To * p.Ho * p.Wo, K = p.Cin * p.kt * p.kh * p.kw;
  const int64_t m0 = int64_t(blockIdx.y) * wgmma::kBlockM, n0 = int64_t(blockIdx.x) * kBN;
  const gemm::RowLoader<T, wgmma::kBlockM, wgmma::SwizzledTile> load_w{w_taps, K, p.Cout, K, m0};
  const conv::GatherLoader<T, wgmma::SwizzledTile, kBN> load_x(p, x_cl, n0, threadIdx.x);
  float acc[kBN / 2];
  wgmma::mainloop<kBN, T>(acc, load_w, load_x, int((K + wgmma::kTileK - 1) / wgmma::kTileK), conv_wgmma_smem_raw);
  T* out = static_cast<T*>(p.out) + b * p.Cout * positions;
  const int64_t co0 = m0 + (threadIdx.x / 128) * 64;
  wgmma::for_each_pair<kBN>(acc, [&](int mi, int ni, float v0, float v1) { conv::store_pair(p, out, co0 + mi, n0 + ni, v0, v1); });
#else
  (void)p, (void)b, (void)x_cl, (void)w_taps;
  __trap();  // built for another target: never launched there (conv3d_wgmma checks the device)
#endif
}

}  // namespace

template <typename T>
bool conv3d_wgmma(const Conv3dParams& p) {
  if (!hopper_fits(kSharedBytes)) return false;
  constexpr auto kernel = conv3d_wgmma_kernel<T>;
  return conv::implicit_gemm<T, wgmma::kBlockM, kBN, wgmma::kTileK>(p, [&](dim3 grid, int64_t b, const T* x_cl, const T* w_taps) {
    allow_dynamic_shared<kernel>(kSharedBytes, "conv3d wgmma smem");
    kernel<<<grid, wgmma::kThreads, kSharedBytes, stream()>>>(p, b, x_cl, w_taps);
  });
}

template bool conv3d_wgmma<__half>(const Conv3dParams&);
template bool conv3d_wgmma<__nv_bfloat16>(const Conv3dParams&);

}  // namespace dit::cuda
