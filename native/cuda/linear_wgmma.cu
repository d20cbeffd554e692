// The f16 / bf16 GEMM of the linear layers on Hopper's warpgroup tensor cores (wgmma, sm_90a).
// A 256-thread block (2 warpgroups) computes a 128 x 128 tile of C = A W^T; warpgroup g owns rows
// 64 g .. 64 g + 63 and issues one m64n128k16 wgmma per 16 of K, A and W both read from shared
// memory through matrix descriptors. Tiles 64 deep (128-byte rows) arrive by cp.async in a
// 5-stage ring laid out as wgmma's 128-byte swizzle wants it (16-byte chunk c of row r at chunk
// c ^ (r % 8), 8-row groups 1024 bytes apart, the ring 1024-byte aligned); a descriptor steps
// through K by moving its start address 32 bytes. One wgmma batch stays in flight while the
// next tile's copies are issued: loads run 3 tiles ahead, and a stage is refilled only after
// the barrier that follows every warpgroup's wait for the batch that read it.
// Built for sm_90a alone (CMakeLists.txt) and launched only on compute capability 9.0 devices;
// needs K, lda, ldw multiples of 8 and 16-byte aligned A and W, like the mma.sync kernel.
// Opt-in (DIT_CUDA_GEMM=wgmma) until a GPU session has verified it.
#include "linear_kernels.h"
#include "wgmma.cuh"

namespace dit::cuda {

namespace {

constexpr int kBM = 128, kBN = 128, kBK = wgmma::kTileK, kStages = 5, kThreads = 256;
constexpr int kRowBytes = wgmma::kRowBytes;
constexpr int kTileBytes = kBM * kRowBytes;               // 16 KiB (A and W tiles alike)
constexpr int kStageBytes = 2 * kTileBytes;
constexpr size_t kSharedBytes = size_t(kStages) * kStageBytes + 1024;  // + alignment slack
static_assert(kBM == kBN, "A and W tiles share the loader");

template <typename T>
__global__ void __launch_bounds__(kThreads, 1) linear_wgmma_kernel(const LinearParams p) {
#ifdef DIT_WGMMA_AVAILABLE
  extern __shared__ __align__(1024) unsigned char wgmma_smem_raw[];
  unsigned char* smem = wgmma::align_1024(wgmma_smem_raw);
  const T* a = static_cast<const T*>(p.a);
  const T* w = static_cast<const T*>(p.w);
  const int64_t m0 = int64_t(blockIdx.y) * kBM, n0 = int64_t(blockIdx.x) * kBN;
  const int tid = threadIdx.x, warpgroup = tid / 128;
  const int k_tiles = int((p.K + kBK - 1) / kBK);

  // this thread's copies: 4 chunks of the A tile and 4 of the W tile (1024 chunks each)
  auto load_tile = [&](int stage, int k_tile) {
    unsigned char* sa = smem + stage * kStageBytes;
    unsigned char* sw = sa + kTileBytes;
    const int64_t k_base = int64_t(k_tile) * kBK;
#pragma unroll
    for (int i = 0; i < 4; i++) {
      const int idx = tid + i * kThreads, row = idx / 8, chunk = idx % 8;
      const int64_t k = k_base + chunk * 8;
      const bool a_ok = m0 + row < p.M && k < p.K;
      mma::copy16_async(sa + wgmma::swizzle128(row, chunk), a_ok ? a + (m0 + row) * p.lda + k : a, a_ok);
      const bool w_ok = n0 + row < p.N && k < p.K;
      mma::copy16_async(sw + wgmma::swizzle128(row, chunk), w_ok ? w + (n0 + row) * p.ldw + k : w, w_ok);
    }
  };

  float acc[64];
#pragma unroll
  for (int i = 0; i < 64; i++) acc[i] = 0.0f;

#pragma unroll
  for (int s = 0; s < kStages - 2; s++) {
    if (s < k_tiles) load_tile(s, s);
    mma::commit_async();
  }
  const uint32_t smem_base = mma::shared_address(smem);
  for (int kt = 0; kt < k_tiles; kt++) {
    mma::wait_async<kStages - 3>();  // tile kt has landed (this thread's copies)
    wgmma::fence_async_shared();     // ... visible to the tensor cores' (async proxy) reads
    __syncthreads();                 // everyone's; and the batch that read tile kt - 2 is done
    const int next = kt + kStages - 2;
    if (next < k_tiles) load_tile(next % kStages, next);
    mma::commit_async();

    const uint32_t sa = smem_base + uint32_t((kt % kStages) * kStageBytes) + uint32_t(warpgroup * 64 * kRowBytes);
    const uint32_t sw = smem_base + uint32_t((kt % kStages) * kStageBytes + kTileBytes);
    wgmma::mma_k_tile<kBN, T>(acc, sa, sw);
    wgmma::wait<1>();  // the batch of tile kt - 1 is done: its stage may be refilled after the next barrier
  }
  wgmma::wait<0>();
  wgmma::fence_operands(acc);
  mma::wait_async<0>();
  wgmma::store_accumulators<kBN, T>(p, acc, m0 + warpgroup * 64, n0);
#else
  (void)p;
  __trap();  // built for another target: never launched there (linear_wgmma checks the device)
#endif
}

}  // namespace

template <typename T>
bool linear_wgmma(const LinearParams& p) {
  const DeviceInfo& device = current_device();
  if (device.major != 9 || device.minor != 0 || int(kSharedBytes) > max_shared_optin()) return false;
  if ((p.M + kBM - 1) / kBM > 65535) return false;
  auto kernel = linear_wgmma_kernel<T>;
  static const bool configured =
      (check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(kSharedBytes)), "linear wgmma smem"), true);
  (void)configured;
  const dim3 grid(unsigned((p.N + kBN - 1) / kBN), unsigned((p.M + kBM - 1) / kBM));
  kernel<<<grid, kThreads, kSharedBytes, stream()>>>(p);
  return true;
}

template bool linear_wgmma<__half>(const LinearParams&);
template bool linear_wgmma<__nv_bfloat16>(const LinearParams&);

}  // namespace dit::cuda
