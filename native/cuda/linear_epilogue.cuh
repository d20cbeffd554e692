// The linear layers' epilogue, shared by every GEMM kernel: bias, activation, the adaLN-Zero gated
// residual C = residual + gate[m / rows_per_gate] * (.), and the store in the storage type.
//
// The tensor-core kernels hold 48-128 accumulators a thread and store them in a fully unrolled
// loop, so whatever the epilogue costs an element is paid in code size 48-128 times over. With the
// activation chosen by a run-time switch at every element (all four activations inlined each time)
// that was about 190 instructions an element: 300-380 KB of straight-line code per kernel, more
// than the instruction cache, re-fetched from L2 on every output tile, which made the epilogue two
// thirds of a DiT GEMM's time (ncu on an H200, 2026-11-27: stall "no instruction" 51%). So the
// kernels pick the variant once per thread (with_linear_epilogue) and unroll the store loop inside
// it: the activation and the gate are compile-time there, and only that variant's handful of
// instructions an element runs.
//
// A tile is stored in two passes per group of a row's values (store_linear_tile): first each value
// through bias, activation and gate in place, then the stores. Interleaved, each element's loads
// (bias, residual, gate) came after the previous element's store, which may alias them, so no load
// could be moved above a store and the elements' load latencies ran one after another (ncu, TMA
// GEMM on the H200: "long scoreboard" 28%, and fc1's GELU costing ~6 us a tile for ~1 us of
// arithmetic). The first pass has no store and no branch (out-of-range elements read a clamped,
// valid address and are not stored), so a group's loads are all free to be in flight together.
#pragma once
#include <type_traits>

#include "common.cuh"
#include "gemm_mma.cuh"

namespace dit::cuda {

// A variant's activation or gate left to p, decided at each element (store_out).
constexpr int kAtRunTime = -1;

// One epilogue variant: f(m, n, v) = [residual[m, n] + gate[m / rows_per_gate, n] * ] act(v + bias[n]),
// kAct an Activation's value, kGated 0 or 1 (or either kAtRunTime). What depends on the row alone
// (its pointers, whether it is inside M; the gate row's division) is worked out once a row (Row).
template <typename T, int kAct, int kGated>
struct LinearEpilogue {
  const LinearParams& p;

  struct Row {
    T* c;
    const T* residual;
    const T* gate;
    bool inside;
  };

  // Row m's pointers. A row past M (the tile's tail) gets the last row's inputs, so that
  // transform_pair can read them unconditionally; it is not stored.
  __device__ __forceinline__ Row row(int64_t m) const {
    Row r{static_cast<T*>(p.c) + m * p.ldc, nullptr, nullptr, m < p.M};
    if (gated()) {
      const int64_t valid_m = r.inside ? m : p.M - 1;
      r.residual = static_cast<const T*>(p.residual) + valid_m * p.ldc;
      r.gate = static_cast<const T*>(p.gate) + (valid_m / p.rows_per_gate) * p.gate_stride;
    }
    return r;
  }

  // a constant kAct folds the switch away; the fast forms where the result is 16-bit
  __device__ __forceinline__ float activation(float v) const {
    return activate<sizeof(T) == 2>(kAct == kAtRunTime ? p.act : Activation(kAct), v);
  }

  __device__ __forceinline__ float apply(const Row& r, int64_t n, float v) const {
    if (p.bias) v += to_f32(static_cast<const T*>(p.bias)[n]);
    v = activation(v);
    if (gated()) v = to_f32(r.residual[n]) + to_f32(r.gate[n]) * v;
    return v;
  }

  // The first pass: C[m, n] and C[m, n + 1]'s final values in place of the products (adjacent
  // columns of one accumulator fragment, as the tensor-core kernels hold them). No branch: columns
  // past N read column N - 1's inputs (store_pair drops them).
  __device__ __forceinline__ void transform_pair(const Row& r, int64_t n, float& v0, float& v1) const {
    const int64_t last = p.N - 1;
    v0 = apply(r, n < last ? n : last, v0);
    v1 = apply(r, n + 1 < last ? n + 1 : last, v1);
  }

  // The second pass: the transformed pair's store (n + 1 only where it is inside N).
  __device__ __forceinline__ void store_pair(const Row& r, int64_t n, float v0, float v1) const {
    if (r.inside && n < p.N) gemm::store_pair(r.c + n, n + 1 < p.N, v0, v1);
  }

  __device__ __forceinline__ void store(int64_t m, int64_t n, float v) const {
    const Row r = row(m);
    r.c[n] = from_f32<T>(apply(r, n, v));
  }

  __device__ __forceinline__ bool gated() const { return kGated == 1 || (kGated == kAtRunTime && p.gate); }
};

// body(epilogue) with the LinearEpilogue variant of p's activation and gate: the one run-time
// choice, made before the caller's unrolled loop over its accumulators.
template <typename T, typename Body>
__device__ __forceinline__ void with_linear_epilogue(const LinearParams& p, Body&& body) {
  auto with_gate = [&](auto gated) {
    constexpr int kGated = decltype(gated)::value;
    switch (p.act) {
      case Activation::GeluTanh: return body(LinearEpilogue<T, int(Activation::GeluTanh), kGated>{p});
      case Activation::Silu: return body(LinearEpilogue<T, int(Activation::Silu), kGated>{p});
      case Activation::Gelu: return body(LinearEpilogue<T, int(Activation::Gelu), kGated>{p});
      default: return body(LinearEpilogue<T, int(Activation::None), kGated>{p});
    }
  };
  if (p.gate) {
    with_gate(std::integral_constant<int, 1>{});
  } else {
    with_gate(std::integral_constant<int, 0>{});
  }
}

// The two passes take a row's pairs in groups of this many: a group's loads are in flight together
// while its values wait in registers. A whole 24-pair row of the TMA GEMM at once made ptxas spill
// even at 232 registers (it hoists every load it can); groups of 6 (12 values) do not.
constexpr int kEpiloguePairsPerGroup = 6;

// A tensor-core kernel's accumulators into C through the epilogue, in the two passes above, a
// group of a row's pairs at a time: for_each_row(fn) is the kernel's walk of its rows (gemm:: or
// wgmma::for_each_row over its accumulators, which the first pass overwrites), kPairsPerRow pairs
// a row, rows and columns counted from m0 and n0. The variant is chosen once; the walks are
// unrolled inside it.
template <typename T, int kPairsPerRow, typename ForEachRow>
__device__ __forceinline__ void store_linear_tile(const LinearParams& p, int64_t m0, int64_t n0, ForEachRow&& for_each_row) {
  with_linear_epilogue<T>(p, [&](const auto& epilogue) {
    for_each_row([&](int mi, auto&& row) {
      const auto r = epilogue.row(m0 + mi);
      constexpr int kGroups = (kPairsPerRow + kEpiloguePairsPerGroup - 1) / kEpiloguePairsPerGroup;
#pragma unroll
      for (int group = 0; group < kGroups; group++) {
        int pair = 0;  // a constant at each call once unrolled: the other groups' pairs compile to nothing
        row([&](int ni, float& v0, float& v1) { if (pair++ / kEpiloguePairsPerGroup == group) epilogue.transform_pair(r, n0 + ni, v0, v1); });
        pair = 0;
        row([&](int ni, float v0, float v1) { if (pair++ / kEpiloguePairsPerGroup == group) epilogue.store_pair(r, n0 + ni, v0, v1); });
      }
    });
  });
}

// One element through the epilogue with the variant decided there, for the kernels that store a
// few values a thread (SIMT, WMMA, GEMV): eight variants at each of their call sites would cost
// more code than the run-time choice costs time.
template <typename T>
__device__ __forceinline__ void store_out(const LinearParams& p, int64_t m, int64_t n, float v) {
  LinearEpilogue<T, kAtRunTime, kAtRunTime>{p}.store(m, n, v);
}

}  // namespace dit::cuda
