// The f16 / bf16 GEMM of the linear layers on tensor cores: the shared mma.sync main loop
// (gemm_mma.cuh) with A = the input rows and B = W's rows (PyTorch's [N, K] layout is already
// "B^T"), and the linear epilogue (bias, activation, gated residual) applied to the register
// accumulators, two adjacent columns per store. Block tiles 128 x 256 where N gives enough of them
// to fill the GPU, else 128 x 128 (DIT_CUDA_GEMM_TILE=128|256 forces one, for comparisons).
// Needs K, lda, ldw multiples of 8 and 16-byte aligned A and W (rows copied 16 bytes at a time);
// linear.cu falls back to its WMMA kernel otherwise. M and N are free (edges zero-filled).
#include "gemm_mma.cuh"
#include "linear_epilogue.cuh"
#include "linear_kernels.h"

namespace dit::cuda {

namespace {

template <typename T, int kBN>
__global__ void __launch_bounds__(gemm::kThreads, gemm::Shape<kBN>::kMinBlocksPerSM) linear_mma_kernel(const LinearParams p) {
  extern __shared__ __align__(128) uint4 linear_smem[];
  const int64_t m0 = int64_t(blockIdx.y) * gemm::kBlockM, n0 = int64_t(blockIdx.x) * kBN;
  const gemm::RowLoader<T> load_a{static_cast<const T*>(p.a), p.lda, p.M, p.K, m0};
  const gemm::RowLoader<T, kBN> load_w{static_cast<const T*>(p.w), p.ldw, p.N, p.K, n0};
  float acc[4][kBN / 32][4];
  gemm::mainloop<T, kBN>(acc, load_a, load_w, int((p.K + gemm::kBlockK - 1) / gemm::kBlockK), linear_smem);
  store_linear_tile<T, kBN / 32>(p, m0, n0, [&](auto&& fn) { gemm::for_each_row<kBN>(acc, fn); });
}

template <typename T, int kBN>
void launch(const LinearParams& p) {
  using S = gemm::Shape<kBN>;
  constexpr auto kernel = linear_mma_kernel<T, kBN>;
  allow_dynamic_shared<kernel>(S::kSharedBytes, "linear smem");
  const dim3 grid(unsigned((p.N + kBN - 1) / kBN), unsigned((p.M + gemm::kBlockM - 1) / gemm::kBlockM));
  kernel<<<grid, gemm::kThreads, S::kSharedBytes, stream()>>>(p);
}

// 256 wide when its blocks (one per SM) still make at least two full waves, else 128
int tile_width(const LinearParams& p) {
  static const int forced = env_equals("DIT_CUDA_GEMM_TILE", "128") ? 128 : env_equals("DIT_CUDA_GEMM_TILE", "256") ? 256 : 0;
  if (forced) return forced;
  const int64_t wide_blocks = ((p.N + 255) / 256) * ((p.M + gemm::kBlockM - 1) / gemm::kBlockM);
  if (int(gemm::Shape<256>::kSharedBytes) > max_shared_optin()) return 128;
  return wide_blocks >= 2 * int64_t(current_device().multiprocessors) && p.N >= 192 ? 256 : 128;
}

}  // namespace

template <typename T>
bool linear_mma(const LinearParams& p) {
  if ((p.M + gemm::kBlockM - 1) / gemm::kBlockM > 65535) return false;
  if (tile_width(p) == 256) {
    launch<T, 256>(p);
  } else {
    launch<T, 128>(p);
  }
  return true;
}

template bool linear_mma<__half>(const LinearParams&);
template bool linear_mma<__nv_bfloat16>(const LinearParams&);

}  // namespace dit::cuda
