// The small memory-bound ops, one grid-stride kernel each: gated residual, activations, row adds
// (positional tables, c = t + y), unpatchify, label embedding, CFG combine, dtype casts.
#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "backend.h"
#include "common.cuh"

namespace dit::cuda {

namespace {

#define DIT_GRID_STRIDE(i, n) for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); i += int64_t(gridDim.x) * blockDim.x)

template <typename T>
__global__ void gated_residual_kernel(const GatedResidualParams p) {
  const T* x = static_cast<const T*>(p.x);
  const T* y = static_cast<const T*>(p.y);
  const T* g = static_cast<const T*>(p.gate);
  T* out = static_cast<T*>(p.out);
  DIT_GRID_STRIDE(i, p.B * p.N * p.D) {
    const int64_t b = i / (p.N * p.D), d = i % p.D;
    out[i] = from_f32<T>(to_f32(x[i]) + to_f32(g[b * p.gate_stride + d]) * to_f32(y[i]));
  }
}

// 16 bytes a thread (8 f16 / bf16 or 4 f32 values) where both pointers are 16-byte aligned, else
// one element; the activation fixed at compile time and its fast forms for 16-bit values. One
// element a thread with the run-time switch was instruction-bound: 35% of the copy bandwidth on
// the bench's 8192 x 4608 GELU (H200).
template <typename T, Activation kAct, int kPerThread>
__global__ void unary_kernel(const UnaryParams p) {
  using Pack = std::conditional_t<kPerThread == 1, T, uint4>;
  static_assert(sizeof(Pack) == kPerThread * sizeof(T), "a thread's pack");
  const Pack* x = static_cast<const Pack*>(p.x);
  Pack* out = static_cast<Pack*>(p.out);
  const int64_t packs = p.count / kPerThread;
  DIT_GRID_STRIDE(i, packs) {
    Pack v = x[i];
    T* e = reinterpret_cast<T*>(&v);
#pragma unroll
    for (int k = 0; k < kPerThread; k++) e[k] = from_f32<T>(activate<sizeof(T) == 2>(kAct, to_f32(e[k])));
    out[i] = v;
  }
  // the last count % kPerThread elements, one a thread
  const int64_t tail = packs * kPerThread + int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (kPerThread > 1 && tail < p.count) {
    const T* xt = static_cast<const T*>(p.x);
    static_cast<T*>(p.out)[tail] = from_f32<T>(activate<sizeof(T) == 2>(kAct, to_f32(xt[tail])));
  }
}

template <typename T>
__global__ void add_rows_kernel(const AddRowsParams p) {
  const T* x = static_cast<const T*>(p.x);
  const T* add = static_cast<const T*>(p.add);
  T* out = static_cast<T*>(p.out);
  DIT_GRID_STRIDE(i, p.rows * p.D) {
    const int64_t r = i / p.D, d = i % p.D;
    out[i] = from_f32<T>(to_f32(x[i]) + to_f32(add[((r / p.add_repeat) % p.add_rows) * p.D + d]));
  }
}

template <typename T>
__global__ void unpatchify_kernel(const UnpatchifyParams p) {
  const T* x = static_cast<const T*>(p.x);
  T* out = static_cast<T*>(p.out);
  const int64_t To = p.t * p.pt, Ho = p.h * p.ph, Wo = p.w * p.pw;
  const int64_t feat = p.pt * p.ph * p.pw * p.C;
  DIT_GRID_STRIDE(i, p.B * p.C * To * Ho * Wo) {
    const int64_t ww = i % Wo, hh = (i / Wo) % Ho, tt = (i / (Wo * Ho)) % To;
    const int64_t c = (i / (Wo * Ho * To)) % p.C, b = i / (Wo * Ho * To * p.C);
    const int64_t n = ((tt / p.pt) * p.h + hh / p.ph) * p.w + ww / p.pw;
    const int64_t f = (((tt % p.pt) * p.ph + hh % p.ph) * p.pw + ww % p.pw) * p.C + c;
    out[i] = x[(b * p.t * p.h * p.w + n) * feat + f];
  }
}

template <typename T>
__global__ void embedding_kernel(const EmbeddingParams p) {
  const T* table = static_cast<const T*>(p.table);
  T* out = static_cast<T*>(p.out);
  DIT_GRID_STRIDE(i, p.B * p.D) {
    const int64_t id = p.ids[i / p.D];
    out[i] = (id >= 0 && id < p.rows) ? table[id * p.D + i % p.D] : from_f32<T>(0.0f);
  }
}

template <typename T>
__global__ void cfg_combine_kernel(const CfgCombineParams p) {
  const T* cond = static_cast<const T*>(p.cond);
  const T* uncond = static_cast<const T*>(p.uncond);
  T* out = static_cast<T*>(p.out);
  DIT_GRID_STRIDE(i, p.B * p.C * p.S) {
    const float c = to_f32(cond[i]);
    const bool guided = (i / p.S) % p.C < p.guided;
    out[i] = from_f32<T>(guided ? to_f32(uncond[i]) + p.scale * (c - to_f32(uncond[i])) : c);
  }
}

template <typename T>
__global__ void timestep_embedding_kernel(const TimestepEmbeddingParams p) {
  // double, as on the CPU: f32 t * freq loses up to 1e-5 relative at t ~ 1000
  T* out = static_cast<T*>(p.out);
  const int64_t half = p.dim / 2;
  DIT_GRID_STRIDE(i, p.B * p.dim) {
    const int64_t b = i / p.dim, k = i % p.dim;
    float v = 0.0f;
    if (k < 2 * half) {
      const int64_t j = k < half ? k : k - half;
      const double arg = double(p.t[b]) * exp(-log(double(p.max_period)) * double(j) / double(half));
      v = float(k < half ? cos(arg) : sin(arg));
    }
    out[i] = from_f32<T>(v);
  }
}

template <typename S, typename D>
__global__ void cast_kernel(const S* src, D* dst, int64_t n) {
  DIT_GRID_STRIDE(i, n) {
    if constexpr (std::is_integral_v<S> && std::is_integral_v<D>) {
      dst[i] = D(src[i]);  // exact (i64 -> i32 wraps, as on the CPU)
    } else if constexpr (std::is_integral_v<S>) {
      dst[i] = from_f32<D>(float(src[i]));  // rounded once to f32, as the CPU: via double rounds twice
    } else if constexpr (std::is_integral_v<D>) {
      dst[i] = D(to_f32(src[i]));
    } else {
      dst[i] = from_f32<D>(to_f32(src[i]));
    }
  }
}

template <typename Fn>
void dispatch_any(DType d, Fn&& fn) {
  if (d == DType::I32) return fn(int32_t{});
  if (d == DType::I64) return fn(int64_t{});
  dispatch(d, fn);
}

template <typename T, Activation kAct>
void launch_unary(const UnaryParams& p) {
  constexpr int kVector = 16 / sizeof(T);
  if ((reinterpret_cast<uintptr_t>(p.x) | reinterpret_cast<uintptr_t>(p.out)) % 16 == 0) {
    // at least one thread a pack and one a tail element
    const int64_t threads = std::max(p.count / kVector, p.count % kVector);
    unary_kernel<T, kAct, kVector><<<grid_for(threads, 256), 256, 0, stream()>>>(p);
  } else {
    unary_kernel<T, kAct, 1><<<grid_for(p.count, 256), 256, 0, stream()>>>(p);
  }
}

}  // namespace

void gated_residual(const GatedResidualParams& p) {
  dispatch(p.dtype, [&](auto tag) { gated_residual_kernel<decltype(tag)><<<grid_for(p.B * p.N * p.D, 256), 256, 0, stream()>>>(p); });
  check_launch("gatedResidual");
}

void unary(const UnaryParams& p) {
  dispatch(p.dtype, [&](auto tag) {
    using T = decltype(tag);
    switch (p.act) {
      case Activation::GeluTanh: return launch_unary<T, Activation::GeluTanh>(p);
      case Activation::Silu: return launch_unary<T, Activation::Silu>(p);
      case Activation::Gelu: return launch_unary<T, Activation::Gelu>(p);
      default: return launch_unary<T, Activation::None>(p);
    }
  });
  check_launch("activation");
}

void add_rows(const AddRowsParams& p) {
  dispatch(p.dtype, [&](auto tag) { add_rows_kernel<decltype(tag)><<<grid_for(p.rows * p.D, 256), 256, 0, stream()>>>(p); });
  check_launch("addRows");
}

void unpatchify(const UnpatchifyParams& p) {
  const int64_t n = p.B * p.t * p.h * p.w * p.pt * p.ph * p.pw * p.C;
  dispatch(p.dtype, [&](auto tag) { unpatchify_kernel<decltype(tag)><<<grid_for(n, 256), 256, 0, stream()>>>(p); });
  check_launch("unpatchify");
}

void embedding(const EmbeddingParams& p) {
  dispatch(p.dtype, [&](auto tag) { embedding_kernel<decltype(tag)><<<grid_for(p.B * p.D, 256), 256, 0, stream()>>>(p); });
  check_launch("embedding");
}

void cfg_combine(const CfgCombineParams& p) {
  dispatch(p.dtype, [&](auto tag) { cfg_combine_kernel<decltype(tag)><<<grid_for(p.B * p.C * p.S, 256), 256, 0, stream()>>>(p); });
  check_launch("cfgCombine");
}

void timestep_embedding(const TimestepEmbeddingParams& p) {
  dispatch(p.dtype, [&](auto tag) { timestep_embedding_kernel<decltype(tag)><<<grid_for(p.B * p.dim, 256), 256, 0, stream()>>>(p); });
  check_launch("timestepEmbedding");
}

void cast(const CastParams& p) {
  if (p.count == 0) return;
  if (p.src_dtype == p.dst_dtype) {
    copy_device_to_device(p.dst, p.src, size_t(p.count) * dtype_size(p.src_dtype));
    return;
  }
  dispatch_any(p.src_dtype, [&](auto s) {
    dispatch_any(p.dst_dtype, [&](auto d) {
      using S = decltype(s);
      using D = decltype(d);
      cast_kernel<S, D><<<grid_for(p.count, 256), 256, 0, stream()>>>(static_cast<const S*>(p.src), static_cast<D*>(p.dst), p.count);
    });
  });
  check_launch("cast");
}

void pack_linear_weight(const PackWeightParams&) {
  throw std::invalid_argument("packLinearWeight is a CPU-only op (the CUDA GEMM reads W as it is)");
}

}  // namespace dit::cuda
