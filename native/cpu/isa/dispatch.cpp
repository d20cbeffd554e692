// Picks the widest instruction set this processor and OS support. DIT_CPU_ISA=avx512|avx2|sse2
// forces a narrower one (to test every path on one machine).
#include <cstdlib>
#include <cstring>

#include "kernels.h"

namespace dit::cpu {

namespace {
const CpuKernels& pick() {
  __builtin_cpu_init();
  bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("fma") &&
                __builtin_cpu_supports("f16c");
  bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
#if defined(DIT_HAVE_AVX512BF16)
  bool bf16 = avx512 && __builtin_cpu_supports("avx512bf16");
#else
  bool bf16 = false;  // the compiler that built this could not emit the instructions
#endif
  const char* forced = std::getenv("DIT_CPU_ISA");
  if (forced && std::strcmp(forced, "sse2") == 0) return kernels_sse2();
  if (forced && std::strcmp(forced, "avx2") == 0) return avx2 ? kernels_avx2() : kernels_sse2();
  if (forced && std::strcmp(forced, "avx512") == 0) bf16 = false;
#if defined(DIT_HAVE_AVX512BF16)
  if (bf16) return kernels_avx512bf16();
#endif
  if (avx512) return kernels_avx512();
  if (avx2) return kernels_avx2();
  return kernels_sse2();
}
}  // namespace

const CpuKernels& cpu_kernels() {
  static const CpuKernels& k = pick();
  return k;
}

}  // namespace dit::cpu
