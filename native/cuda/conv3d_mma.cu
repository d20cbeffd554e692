// 3-D convolution (and so causalConv3d) for f16 / bf16 as an implicit GEMM on tensor cores: the
// shared mma.sync main loop (gemm_mma.cuh) with A = the weight W' (output channels) and B = the
// col rows the gather loader of conv3d_implicit.cuh copies straight from the channels-last input
// (output positions), and the bias added in the epilogue.
#include "conv3d_implicit.cuh"
#include "conv3d_kernels.h"

namespace dit::cuda {

namespace {

constexpr int kBN = 128;  // output positions per block

template <typename T>
__global__ void __launch_bounds__(gemm::kThreads, 2) conv3d_mma_kernel(const Conv3dParams p, const int64_t b, const T* x_cl,
                                                                       const T* w_taps) {
  extern __shared__ __align__(128) uint4 conv_smem[];
  const int64_t positions = p.To * p.Ho * p.Wo, K = p.Cin * p.kt * p.kh * p.kw;
  const int64_t m0 = int64_t(blockIdx.y) * gemm::kBlockM, n0 = int64_t(blockIdx.x) * kBN;
  const gemm::RowLoader<T> load_w{w_taps, K, p.Cout, K, m0};
  const conv::GatherLoader<T, gemm::MmaTile, kBN> load_x(p, x_cl, n0, threadIdx.x);
  float acc[4][kBN / 32][4];
  gemm::mainloop<T, kBN>(acc, load_w, load_x, int((K + gemm::kBlockK - 1) / gemm::kBlockK), conv_smem);
  T* out = static_cast<T*>(p.out) + b * p.Cout * positions;
  gemm::for_each_pair<kBN>(acc, [&](int mi, int ni, float v0, float v1) { conv::store_pair(p, out, m0 + mi, n0 + ni, v0, v1); });
}

}  // namespace

template <typename T>
bool conv3d_mma(const Conv3dParams& p) {
  constexpr size_t kSharedBytes = gemm::Shape<kBN>::kSharedBytes;
  constexpr auto kernel = conv3d_mma_kernel<T>;
  return conv::implicit_gemm<T, gemm::kBlockM, kBN, gemm::kBlockK>(p, [&](dim3 grid, int64_t b, const T* x_cl, const T* w_taps) {
    allow_dynamic_shared<kernel>(kSharedBytes, "conv3d smem");
    kernel<<<grid, gemm::kThreads, kSharedBytes, stream()>>>(p, b, x_cl, w_taps);
  });
}

template bool conv3d_mma<__half>(const Conv3dParams&);
template bool conv3d_mma<__nv_bfloat16>(const Conv3dParams&);

}  // namespace dit::cuda
