#include "dtype.h"

namespace dit {

namespace {
double load_as_double(const void* p, DType d, int64_t i) {
  switch (d) {
    case DType::F32: return static_cast<const float*>(p)[i];
    case DType::F16: return to_float(static_cast<const f16*>(p)[i]);
    case DType::BF16: return to_float(static_cast<const bf16*>(p)[i]);
    case DType::I32: return static_cast<const int32_t*>(p)[i];
    case DType::I64: return double(static_cast<const int64_t*>(p)[i]);
  }
  return 0;
}
void store_from_double(void* p, DType d, int64_t i, double v) {
  switch (d) {
    case DType::F32: static_cast<float*>(p)[i] = float(v); break;
    case DType::F16: static_cast<f16*>(p)[i] = f16_from(float(v)); break;
    case DType::BF16: static_cast<bf16*>(p)[i] = bf16_from(float(v)); break;
    case DType::I32: static_cast<int32_t*>(p)[i] = int32_t(v); break;
    case DType::I64: static_cast<int64_t*>(p)[i] = int64_t(v); break;
  }
}
}  // namespace

void convert_elements(const void* src, DType src_dtype, void* dst, DType dst_dtype, int64_t count) {
  if (src_dtype == dst_dtype) {
    std::memmove(dst, src, size_t(count) * dtype_size(src_dtype));
    return;
  }
  if (src_dtype == DType::I64 && dst_dtype == DType::I32) {  // exact, no detour through double
    for (int64_t i = 0; i < count; i++) static_cast<int32_t*>(dst)[i] = int32_t(static_cast<const int64_t*>(src)[i]);
    return;
  }
  if (src_dtype == DType::I64) {  // to a float type: rounded once, to f32 first (as PyTorch), not via double
    const int64_t* s = static_cast<const int64_t*>(src);
    for (int64_t i = 0; i < count; i++) store_from_double(dst, dst_dtype, i, double(float(s[i])));
    return;
  }
  for (int64_t i = 0; i < count; i++) store_from_double(dst, dst_dtype, i, load_as_double(src, src_dtype, i));
}

}  // namespace dit
