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
#include "gemm_mma.cuh"
#include "linear_epilogue.cuh"
#include "linear_kernels.h"

namespace dit::cuda {

namespace {

constexpr int kBM = 128, kBN = 128, kBK = 64, kStages = 5, kThreads = 256;
constexpr int kRowBytes = kBK * 2;                        // 128: one swizzle span
constexpr int kTileBytes = kBM * kRowBytes;               // 16 KiB (A and W tiles alike)
constexpr int kStageBytes = 2 * kTileBytes;
constexpr size_t kSharedBytes = size_t(kStages) * kStageBytes + 1024;  // + alignment slack
static_assert(kBM == kBN, "A and W tiles share the loader");

__device__ __forceinline__ uint32_t swizzle128(int row, int chunk) {
  return uint32_t(row * kRowBytes + ((chunk ^ (row & 7)) << 4));
}

// K-major operand, 128-byte swizzle: start address, leading offset (unused with this swizzle,
// 16 bytes by convention), stride 1024 bytes between 8-row groups, mode 1 (128B) in bits 62-63.
__device__ __forceinline__ uint64_t descriptor(uint32_t smem_address) {
  return uint64_t((smem_address & 0x3FFFF) >> 4) | (uint64_t(16 >> 4) << 16) | (uint64_t(1024 >> 4) << 32) | (uint64_t(1) << 62);
}

#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
template <typename T>
__device__ __forceinline__ void wgmma_m64n128k16(float (&d)[64], uint64_t desc_a, uint64_t desc_b) {
  if constexpr (std::is_same_v<T, __half>) {
    asm volatile(
        "{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n128k16.f32.f16.f16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, %64, %65, p, 1, 1, 0, 0;\n}\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
        : "l"(desc_a), "l"(desc_b), "r"(1));
  } else {
    asm volatile(
        "{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, %64, %65, p, 1, 1, 0, 0;\n}\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
        : "l"(desc_a), "l"(desc_b), "r"(1));
  }
}
__device__ __forceinline__ void wgmma_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wgmma_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
template <int N>
__device__ __forceinline__ void wgmma_wait() { asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory"); }
__device__ __forceinline__ void fence_async_shared() { asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory"); }
#endif

template <typename T>
__global__ void __launch_bounds__(kThreads, 1) linear_wgmma_kernel(const LinearParams p) {
#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
  extern __shared__ __align__(1024) unsigned char wgmma_smem_raw[];
  // the swizzle pattern is a function of shared-address bits: the ring starts 1024-aligned there
  const uint32_t raw_address = mma::shared_address(wgmma_smem_raw);
  unsigned char* smem = wgmma_smem_raw + ((1024 - (raw_address & 1023)) & 1023);
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
      mma::copy16_async(sa + swizzle128(row, chunk), a_ok ? a + (m0 + row) * p.lda + k : a, a_ok);
      const bool w_ok = n0 + row < p.N && k < p.K;
      mma::copy16_async(sw + swizzle128(row, chunk), w_ok ? w + (n0 + row) * p.ldw + k : w, w_ok);
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
    fence_async_shared();            // ... visible to the tensor cores' (async proxy) reads
    __syncthreads();                 // everyone's; and the batch that read tile kt - 2 is done
    const int next = kt + kStages - 2;
    if (next < k_tiles) load_tile(next % kStages, next);
    mma::commit_async();

    const uint32_t sa = smem_base + uint32_t((kt % kStages) * kStageBytes) + uint32_t(warpgroup * 64 * kRowBytes);
    const uint32_t sw = smem_base + uint32_t((kt % kStages) * kStageBytes + kTileBytes);
    wgmma_fence();
#pragma unroll
    for (int ks = 0; ks < kBK / 16; ks++) wgmma_m64n128k16<T>(acc, descriptor(sa + ks * 32), descriptor(sw + ks * 32));
    wgmma_commit();
    wgmma_wait<1>();  // the batch of tile kt - 1 is done: its stage may be refilled after the next barrier
  }
  wgmma_wait<0>();
  mma::wait_async<0>();
#pragma unroll
  for (int i = 0; i < 64; i++) asm volatile("" : "+f"(acc[i])::"memory");  // no accumulator access moves above the wait

  // accumulator layout (per warp of the warpgroup, 16 rows): as mma.sync's C fragments, one per
  // 8 columns: acc[4 j + 0, 1] at row lane / 4, columns 8 j + (lane % 4) * 2 + {0, 1}; + 2, 3 at row + 8
  const int lane = tid & 31, warp_in_group = (tid / 32) & 3;
  const int64_t row = m0 + warpgroup * 64 + warp_in_group * 16 + (lane >> 2);
#pragma unroll
  for (int j = 0; j < 16; j++) {
    const int64_t n = n0 + j * 8 + (lane & 3) * 2;
#pragma unroll
    for (int half = 0; half < 2; half++) {
      const int64_t m = row + 8 * half;
      if (m >= p.M || n >= p.N) continue;
      const bool second = n + 1 < p.N;
      const float v0 = linear_epilogue<T>(p, m, n, acc[4 * j + 2 * half]);
      const float v1 = second ? linear_epilogue<T>(p, m, n + 1, acc[4 * j + 2 * half + 1]) : 0.0f;
      gemm::store_pair(static_cast<T*>(p.c) + m * p.ldc + n, second, v0, v1);
    }
  }
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
  if (!rows_are_16_byte_aligned<T>(p.a, p.K, p.lda) || !rows_are_16_byte_aligned<T>(p.w, p.ldw)) return false;
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
