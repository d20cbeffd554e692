// Checks the CPU kernels' vector dtype conversions (isa/rows.inc: to_f32, from_f32; F16C for f16
// on AVX2 and AVX-512) against the scalar ones in common/dtype.h, bit for bit, for every ISA this
// processor runs: every f16 and bf16 value, and f32 values on both sides of every rounding tie.
// NaNs need only stay NaNs with their sign. A failure prints the first mismatches; exit code 1.
#include <cmath>
#include <cstdio>
#include <vector>

#include "../common/dtype.h"
#include "../cpu/isa/kernels.h"

namespace {

int failures = 0;

bool same_f32(uint32_t a, uint32_t b) {
  const bool nan_a = (a & 0x7fffffffu) > 0x7f800000u, nan_b = (b & 0x7fffffffu) > 0x7f800000u;
  return (nan_a || nan_b) ? (nan_a && nan_b && (a >> 31) == (b >> 31)) : a == b;
}
bool same_half(uint16_t a, uint16_t b, bool bf) {
  const uint16_t inf = bf ? 0x7f80u : 0x7c00u;
  const bool nan_a = (a & 0x7fffu) > inf, nan_b = (b & 0x7fffu) > inf;
  return (nan_a || nan_b) ? (nan_a && nan_b && (a >> 15) == (b >> 15)) : a == b;
}

void report(const char* isa, const char* what, uint64_t input, uint64_t got, uint64_t want) {
  if (++failures <= 10)
    std::printf("FAIL %s %s: input 0x%llx gave 0x%llx, scalar 0x%llx\n", isa, what, (unsigned long long)input,
                (unsigned long long)got, (unsigned long long)want);
}

// Every 16-bit pattern to f32, in one call and in odd-length calls (the scalar tails).
void check_widen(const dit::cpu::CpuKernels& k, dit::DType dtype) {
  const bool bf = dtype == dit::DType::BF16;
  std::vector<uint16_t> bits(65536);
  for (uint32_t i = 0; i < 65536; i++) bits[i] = uint16_t(i);
  std::vector<float> got(65536);
  for (int64_t step : {int64_t(65536), int64_t(37)})
    for (int64_t i0 = 0; i0 < 65536; i0 += step) k.to_f32(dtype, bits.data() + i0, got.data() + i0, std::min<int64_t>(step, 65536 - i0));
  for (uint32_t i = 0; i < 65536; i++) {
    const float want = bf ? dit::to_float(dit::bf16{uint16_t(i)}) : dit::to_float(dit::f16{uint16_t(i)});
    if (!same_f32(dit::float_to_bits(got[i]), dit::float_to_bits(want)))
      report(k.isa, bf ? "bf16->f32" : "f16->f32", i, dit::float_to_bits(got[i]), dit::float_to_bits(want));
  }
}

// f32 -> 16 bits on inputs around every representable value's rounding boundaries (the exact
// midpoints to both neighbours and one f32 ulp either side), overflow, subnormals, zeros, NaN.
void check_narrow(const dit::cpu::CpuKernels& k, dit::DType dtype) {
  const bool bf = dtype == dit::DType::BF16;
  std::vector<float> in;
  for (uint32_t h = 0; h < 65536; h++) {
    const float v = bf ? dit::to_float(dit::bf16{uint16_t(h)}) : dit::to_float(dit::f16{uint16_t(h)});
    if (std::isnan(v)) continue;
    const uint16_t next_bits = uint16_t(h + 1);
    const float next = bf ? dit::to_float(dit::bf16{next_bits}) : dit::to_float(dit::f16{next_bits});
    for (float edge : {v, std::isfinite(next) && ((h ^ next_bits) & 0x8000u) == 0 ? 0.5f * v + 0.5f * next : v}) {
      const uint32_t u = dit::float_to_bits(edge);
      for (uint32_t d : {0u, 1u, 2u}) {
        in.push_back(dit::bits_to_float(u + d));
        in.push_back(dit::bits_to_float(u - d));
      }
    }
  }
  for (uint32_t u : {0x7f800000u, 0xff800000u, 0x7fc00000u, 0xffc00001u, 0x7f800001u, 0x477ff000u, 0x477fefffu, 0x7f7fffffu,
                     0x00000001u, 0x80000001u, 0x33000000u, 0x33000001u, 0xb3000000u})
    in.push_back(dit::bits_to_float(u));
  for (uint64_t u = 0; u < (uint64_t(1) << 32); u += 65521) in.push_back(dit::bits_to_float(uint32_t(u)));
  const int64_t n = int64_t(in.size());
  std::vector<uint16_t> got(size_t(n) + 1);
  k.from_f32(dtype, in.data(), got.data(), n - 1);        // the vector body...
  k.from_f32(dtype, in.data() + n - 1, got.data() + n - 1, 1);  // ...and a scalar tail
  for (int64_t i = 0; i < n; i++) {
    const uint16_t want = bf ? dit::bf16_from(in[size_t(i)]).bits : dit::f16_from(in[size_t(i)]).bits;
    if (!same_half(got[size_t(i)], want, bf)) report(k.isa, bf ? "f32->bf16" : "f32->f16", dit::float_to_bits(in[size_t(i)]), got[size_t(i)], want);
  }
}

}  // namespace

int main() {
  __builtin_cpu_init();
  std::vector<const dit::cpu::CpuKernels*> isas = {&dit::cpu::kernels_sse2()};
  const bool f16c = __builtin_cpu_supports("f16c") && __builtin_cpu_supports("fma");
  if (f16c && __builtin_cpu_supports("avx2")) isas.push_back(&dit::cpu::kernels_avx2());
  if (f16c && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl")) {
    isas.push_back(&dit::cpu::kernels_avx512());
#if defined(DIT_HAVE_AVX512BF16)
    if (__builtin_cpu_supports("avx512bf16")) isas.push_back(&dit::cpu::kernels_avx512bf16());
#endif
  }
  for (const dit::cpu::CpuKernels* k : isas) {
    for (dit::DType d : {dit::DType::F16, dit::DType::BF16}) {
      check_widen(*k, d);
      check_narrow(*k, d);
    }
    std::printf("%s: conversions %s\n", k->isa, failures ? "FAIL" : "match the scalar ones");
  }
  return failures ? 1 : 0;
}
