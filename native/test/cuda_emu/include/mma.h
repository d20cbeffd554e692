// The CUDA emulator's stand-in for <mma.h> (WMMA, 16 x 16 x 16 only, what native/cuda uses). A
// fragment's element order across lanes is opaque in CUDA, so here every lane holds the whole
// matrix; loads, products and stores are warp collectives done once for the warp (all lanes must
// pass the same pointer and stride, as CUDA requires), the product in f32.
#pragma once
#include "cuda_runtime.h"

namespace dit_emu {
// One warp-wide operation: each lane passes its own `arg`; the last lane to arrive runs
// fn(args of lanes 0..31, ctx) for the whole warp, then every lane goes on. `what` names the
// operation: lanes meeting at different operations are reported as a fault.
void warp_collective(const char* what, void* arg, void (*fn)(void** args, void* ctx), void* ctx = nullptr);
}  // namespace dit_emu

namespace nvcuda::wmma {

struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
enum layout_t { mem_row_major, mem_col_major };

template <typename Use, int M, int N, int K, typename T, typename Layout = void>
struct fragment {
  static_assert(M == 16 && N == 16 && K == 16, "the emulator has 16 x 16 x 16 fragments only");
  static constexpr int num_elements = 256;
  T x[256];  // [row][column] of the operand as the product sees it
};

namespace detail {
inline float as_float(float v) { return v; }
inline float as_float(__half v) { return __half2float(v); }
inline float as_float(__nv_bfloat16 v) { return __bfloat162float(v); }

template <typename Frag, typename T>
struct Load {
  Frag* frag;
  const T* ptr;
  unsigned ldm;
  bool transposed;  // element (r, c) at ptr[c * ldm + r]
};
template <typename Frag, typename T>
void load(Frag& f, const T* p, unsigned ldm, bool transposed) {
  Load<Frag, T> arg{&f, p, ldm, transposed};
  dit_emu::warp_collective("wmma::load_matrix_sync", &arg, [](void** args, void*) {
    const auto* first = static_cast<Load<Frag, T>*>(args[0]);
    for (int l = 0; l < 32; l++) {
      const auto* a = static_cast<Load<Frag, T>*>(args[l]);
      if (a->ptr != first->ptr || a->ldm != first->ldm) dit_emu::trap();  // not warp-uniform
      for (int r = 0; r < 16; r++)
        for (int c = 0; c < 16; c++)
          a->frag->x[r * 16 + c] = a->transposed ? first->ptr[size_t(c) * a->ldm + r] : first->ptr[size_t(r) * a->ldm + c];
    }
  });
}
}  // namespace detail

template <typename T, typename L>
void load_matrix_sync(fragment<matrix_a, 16, 16, 16, T, L>& f, const T* p, unsigned ldm) {
  detail::load(f, p, ldm, std::is_same_v<L, col_major>);  // A[m][k]
}
template <typename T, typename L>
void load_matrix_sync(fragment<matrix_b, 16, 16, 16, T, L>& f, const T* p, unsigned ldm) {
  detail::load(f, p, ldm, std::is_same_v<L, col_major>);  // B[k][n]
}

template <typename T, typename V>
void fill_fragment(fragment<accumulator, 16, 16, 16, T>& f, V v) {
  for (auto& e : f.x) e = T(v);
}

template <typename T, typename LA, typename LB>
void mma_sync(fragment<accumulator, 16, 16, 16, float>& d, const fragment<matrix_a, 16, 16, 16, T, LA>& a,
              const fragment<matrix_b, 16, 16, 16, T, LB>& b, const fragment<accumulator, 16, 16, 16, float>& c) {
  using Acc = fragment<accumulator, 16, 16, 16, float>;
  struct Mma {
    Acc* d;
    const fragment<matrix_a, 16, 16, 16, T, LA>* a;
    const fragment<matrix_b, 16, 16, 16, T, LB>* b;
    const Acc* c;
  } arg{&d, &a, &b, &c};
  // every lane holds the same operands (loads are warp-wide), so the product is computed once
  dit_emu::warp_collective("wmma::mma_sync", &arg, [](void** args, void*) {
    const auto* m = static_cast<Mma*>(args[0]);
    float out[256];
    for (int i = 0; i < 16; i++)
      for (int j = 0; j < 16; j++) {
        float s = m->c->x[i * 16 + j];
        for (int k = 0; k < 16; k++) s += detail::as_float(m->a->x[i * 16 + k]) * detail::as_float(m->b->x[k * 16 + j]);
        out[i * 16 + j] = s;
      }
    for (int l = 0; l < 32; l++) std::memcpy(static_cast<Mma*>(args[l])->d->x, out, sizeof out);
  });
}

template <typename T>
void store_matrix_sync(T* p, const fragment<accumulator, 16, 16, 16, T>& f, unsigned ldm, layout_t layout) {
  struct Store {
    const fragment<accumulator, 16, 16, 16, T>* frag;
    T* ptr;
    unsigned ldm;
    layout_t layout;
  } arg{&f, p, ldm, layout};
  dit_emu::warp_collective("wmma::store_matrix_sync", &arg, [](void** args, void*) {
    const auto* first = static_cast<Store*>(args[0]);
    for (int l = 1; l < 32; l++) {
      const auto* a = static_cast<Store*>(args[l]);
      if (a->ptr != first->ptr || a->ldm != first->ldm || a->layout != first->layout) dit_emu::trap();
    }
    for (int r = 0; r < 16; r++)
      for (int c = 0; c < 16; c++)
        first->ptr[first->layout == mem_row_major ? size_t(r) * first->ldm + c : size_t(c) * first->ldm + r] = first->frag->x[r * 16 + c];
  });
}

}  // namespace nvcuda::wmma
