// Element types shared by every backend, and the one place that turns a runtime dtype into a
// compile-time type (dispatch_float). Conversions are `static inline` on purpose: this header is
// also included by translation units built for other instruction sets (cpu/isa/), and internal
// linkage keeps the linker from merging copies compiled with different -m flags.
#pragma once
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>

namespace dit {

enum class DType : int32_t { F32 = 0, F16 = 1, BF16 = 2, I32 = 3, I64 = 4 };

struct f16 { uint16_t bits; };
struct bf16 { uint16_t bits; };

static inline size_t dtype_size(DType d) {
  switch (d) {
    case DType::F32: case DType::I32: return 4;
    case DType::F16: case DType::BF16: return 2;
    case DType::I64: return 8;
  }
  return 0;
}

static inline const char* dtype_name(DType d) {
  switch (d) {
    case DType::F32: return "f32"; case DType::F16: return "f16"; case DType::BF16: return "bf16";
    case DType::I32: return "i32"; case DType::I64: return "i64";
  }
  return "?";
}

static inline float bits_to_float(uint32_t u) { float f; std::memcpy(&f, &u, 4); return f; }
static inline uint32_t float_to_bits(float f) { uint32_t u; std::memcpy(&u, &f, 4); return u; }

// bf16: round to nearest even; NaN stays NaN (quiet).
static inline float to_float(bf16 h) { return bits_to_float(uint32_t(h.bits) << 16); }
static inline bf16 bf16_from(float f) {
  uint32_t u = float_to_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return bf16{uint16_t((u >> 16) | 0x40)};
  u += 0x7fffu + ((u >> 16) & 1u);
  return bf16{uint16_t(u >> 16)};
}

// IEEE binary16, round to nearest even, subnormals and infinities handled.
static inline float to_float(f16 h) {
  uint32_t sign = uint32_t(h.bits & 0x8000u) << 16;
  uint32_t exp = (h.bits >> 10) & 0x1fu, man = h.bits & 0x3ffu;
  if (exp == 0x1f) return bits_to_float(sign | 0x7f800000u | (man << 13));
  if (exp == 0) {
    if (man == 0) return bits_to_float(sign);
    float f = float(man) * (1.0f / 16777216.0f);  // man * 2^-24
    return sign ? -f : f;
  }
  return bits_to_float(sign | ((exp + 112u) << 23) | (man << 13));
}
static inline f16 f16_from(float f) {
  uint32_t u = float_to_bits(f);
  uint32_t sign = (u >> 16) & 0x8000u;
  uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return f16{uint16_t(sign | 0x7e00u)};
  if (a >= 0x477ff000u) return f16{uint16_t(sign | 0x7c00u)};  // rounds to >= 65520: inf
  if (a < 0x38800000u) {  // result is subnormal (or zero): scale so rounding happens in float math
    float v = bits_to_float(a) * 16777216.0f;  // to units of 2^-24
    uint32_t m = uint32_t(v);
    float rem = v - float(m);
    if (rem > 0.5f || (rem == 0.5f && (m & 1u))) m++;
    return f16{uint16_t(sign | m)};
  }
  uint32_t r = a + 0xfffu + ((a >> 13) & 1u) - (112u << 23);
  return f16{uint16_t(sign | (r >> 13))};
}

static inline float to_float(float f) { return f; }
template <typename T> static inline T from_float(float f);
template <> inline float from_float<float>(float f) { return f; }
template <> inline f16 from_float<f16>(float f) { return f16_from(f); }
template <> inline bf16 from_float<bf16>(float f) { return bf16_from(f); }

// The dtype of a floating storage type (the inverse of dispatch_float).
template <typename T> constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::F32; }
template <> constexpr DType dtype_of<f16>() { return DType::F16; }
template <> constexpr DType dtype_of<bf16>() { return DType::BF16; }

// Calls fn(T{}) with T the storage type of a floating dtype; integer dtypes throw.
template <typename Fn>
static inline void dispatch_float(DType d, Fn&& fn) {
  switch (d) {
    case DType::F32: fn(float{}); return;
    case DType::F16: fn(f16{}); return;
    case DType::BF16: fn(bf16{}); return;
    default: throw std::invalid_argument(std::string("unsupported dtype ") + dtype_name(d) + " (expected f32, f16 or bf16)");
  }
}

static inline bool is_float(DType d) { return d == DType::F32 || d == DType::F16 || d == DType::BF16; }

// Throws unless d is a floating dtype (for ops that then work on bytes and dtype codes).
static inline void require_float(DType d) {
  dispatch_float(d, [](auto) {});
}

// Converts `count` elements between any two dtypes (integers go through double, floats through float).
void convert_elements(const void* src, DType src_dtype, void* dst, DType dst_dtype, int64_t count);

}  // namespace dit
