// A check of the CUDA emulator itself (native/test/cuda_emu), not of a kernel: its async-proxy
// fence rule must keep failing the kernels that break it. A wgmma reads shared memory through
// the async proxy, so plain stores to it need a fence.proxy.async before the wgmma; the emulator
// compares each operand with the image of shared memory taken at the last fence. A missing fence
// is a race on a GPU that no output check would catch, so if the emulator stopped enforcing the
// rule, every Hopper kernel's emulated tests would pass with the bug in them.
// Built only with the emulator (translated by translate.js, never by nvcc); ctest runs each mode:
//   dit_emu_fence_check fenced             the rule kept: the product runs, each output 64
//   dit_emu_fence_check no-fence           no fence after the stores: the emulator must fault
//   dit_emu_fence_check store-after-fence  a store after the fence: the emulator must fault
// Exit 0 when the emulator did what the mode expects.
#include <cstdio>
#include <cstring>

#include "wgmma.cuh"

namespace {

namespace wgmma = dit::cuda::wgmma;

enum class Mode { Fenced, NoFence, StoreAfterFence };

constexpr int kN = 64;                                    // the product's columns (m64n64k16)
constexpr int kTileBytes = 64 * wgmma::kRowBytes;         // a 64-row, 64-deep bf16 operand tile
constexpr int kSharedBytes = 2 * kTileBytes + 1024;       // A, B and the 1024-byte alignment slack
constexpr uint32_t kOnes = 0x3f803f80u;                   // two bf16 1.0

__global__ void product_kernel(Mode mode, float* out) {
  extern __shared__ unsigned char raw[];
  unsigned char* a = wgmma::align_1024(raw);
  unsigned char* b = a + kTileBytes;
  uint32_t* words = reinterpret_cast<uint32_t*>(a);
  for (int i = threadIdx.x; i < 2 * kTileBytes / 4; i += blockDim.x) words[i] = kOnes;  // A and B all ones
  __syncthreads();
  if (mode != Mode::NoFence) wgmma::fence_async_shared();
  __syncthreads();
  if (mode == Mode::StoreAfterFence && threadIdx.x == 0) words[0] = 0x40004000u;  // two bf16 2.0
  __syncthreads();
  float d[kN / 2];
  wgmma::mma_k_tile<kN, __nv_bfloat16>(d, dit::cuda::mma::shared_address(a), dit::cuda::mma::shared_address(b));
  wgmma::wait<0>();
  for (int i = 0; i < kN / 2; i++) out[threadIdx.x * (kN / 2) + i] = d[i];
}

}  // namespace

int main(int argc, char** argv) {
  const char* name = argc > 1 ? argv[1] : "";
  Mode mode;
  if (std::strcmp(name, "fenced") == 0) mode = Mode::Fenced;
  else if (std::strcmp(name, "no-fence") == 0) mode = Mode::NoFence;
  else if (std::strcmp(name, "store-after-fence") == 0) mode = Mode::StoreAfterFence;
  else {
    std::fprintf(stderr, "usage: dit_emu_fence_check fenced|no-fence|store-after-fence\n");
    return 2;
  }
  constexpr int kOutputs = 128 * (kN / 2);
  float* out = nullptr;
  if (cudaMalloc(reinterpret_cast<void**>(&out), kOutputs * sizeof(float)) != cudaSuccess) return 2;
  product_kernel<<<1, 128, kSharedBytes>>>(mode, out);
  cudaError_t err = cudaGetLastError();
  if (err == cudaSuccess) err = cudaDeviceSynchronize();
  float host[kOutputs] = {};
  if (err == cudaSuccess) err = cudaMemcpy(host, out, sizeof host, cudaMemcpyDeviceToHost);
  if (mode != Mode::Fenced) {
    const bool faulted = err != cudaSuccess;
    std::printf("%s: %s\n", name, faulted ? "the emulator faulted, as it must" : "NOT caught: the emulator ran a wgmma on unfenced stores");
    return faulted ? 0 : 1;
  }
  int wrong = 0;
  for (float v : host) wrong += v != 64.0f;  // 64 products of 1 x 1 per output
  std::printf("fenced: %s (%d of %d outputs not 64)\n", err != cudaSuccess ? cudaGetErrorName(err) : wrong ? "wrong" : "ok", wrong, kOutputs);
  return err == cudaSuccess && wrong == 0 ? 0 : 1;
}
