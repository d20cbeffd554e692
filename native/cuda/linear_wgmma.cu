// The f16 / bf16 GEMM of the linear layers on Hopper's warpgroup tensor cores (wgmma, sm_90a):
// the cp.async-fed wgmma main loop (gemm_wgmma.cuh) with A = the input rows and B = W's rows, a
// 128 x 128 tile per 256-thread block, and the linear epilogue (bias, activation, gated residual)
// applied to the register accumulators.
// Built for sm_90a alone (CMakeLists.txt) and launched only on compute capability 9.0 devices;
// needs K, lda, ldw multiples of 8 and 16-byte aligned A and W, like the mma.sync kernel.
// Opt-in (DIT_CUDA_GEMM=wgmma): verified on an H200, and slower there than linear_tma.cu.
#include "gemm_wgmma.cuh"
#include "linear_kernels.h"

namespace dit::cuda {

namespace {

constexpr int kBN = 128;
constexpr size_t kSharedBytes = wgmma::Shape<kBN>::kSharedBytes;  // 161 KiB

template <typename T>
__global__ void __launch_bounds__(wgmma::kThreads, 1) linear_wgmma_kernel(const LinearParams p) {
#ifdef DIT_WGMMA_AVAILABLE
  extern __shared__ __align__(1024) unsigned char wgmma_smem_raw[];
  const int64_t m0 = int64_t(blockIdx.y) * wgmma::kBlockM, n0 = int64_t(blockIdx.x) * kBN;
  const gemm::RowLoader<T, wgmma::kBlockM, wgmma::SwizzledTile> load_a{static_cast<const T*>(p.a), p.lda, p.M, p.K, m0};
  const gemm::RowLoader<T, kBN, wgmma::SwizzledTile> load_w{static_cast<const T*>(p.w), p.ldw, p.N, p.K, n0};
  float acc[kBN / 2];
  wgmma::mainloop<kBN, T>(acc, load_a, load_w, int((p.K + wgmma::kTileK - 1) / wgmma::kTileK), wgmma_smem_raw);
  wgmma::store_accumulators<kBN, T>(p, acc, m0 + (threadIdx.x / 128) * 64, n0);
#else
  (void)p;
  __trap();  // built for another target: never launched there (linear_wgmma checks the device)
#endif
}

}  // namespace

template <typename T>
bool linear_wgmma(const LinearParams& p) {
  if (!hopper_fits(kSharedBytes)) return false;
  if ((p.M + wgmma::kBlockM - 1) / wgmma::kBlockM > 65535) return false;
  constexpr auto kernel = linear_wgmma_kernel<T>;
  allow_dynamic_shared<kernel>(kSharedBytes, "linear wgmma smem");
  const dim3 grid(unsigned((p.N + kBN - 1) / kBN), unsigned((p.M + wgmma::kBlockM - 1) / wgmma::kBlockM));
  kernel<<<grid, wgmma::kThreads, kSharedBytes, stream()>>>(p);
  return true;
}

template bool linear_wgmma<__half>(const LinearParams&);
template bool linear_wgmma<__nv_bfloat16>(const LinearParams&);

}  // namespace dit::cuda
