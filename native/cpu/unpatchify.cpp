// unpatchify: x[B, (t h w), (pt ph pw C)] -> out[B, C, t*pt, h*ph, w*pw]; the channel is the
// fastest index of a token's features (Open-Sora's rearrange "n t h w r p q c -> n c t r h p w q").
#include "ops.h"
#include "thread_pool.h"

namespace dit::cpu {

namespace {
template <typename T>
void unpatchify_t(const UnpatchifyParams& p) {
  const T* x = static_cast<const T*>(p.x);
  T* out = static_cast<T*>(p.out);
  const int64_t To = p.t * p.pt, Ho = p.h * p.ph, Wo = p.w * p.pw;
  const int64_t feat = p.pt * p.ph * p.pw * p.C;
  parallel_for(p.B * p.C, [&](int64_t bc, int) {
    const int64_t b = bc / p.C, c = bc % p.C;
    T* o = out + bc * To * Ho * Wo;
    for (int64_t tt = 0; tt < To; tt++)
      for (int64_t hh = 0; hh < Ho; hh++)
        for (int64_t ww = 0; ww < Wo; ww++) {
          const int64_t n = ((tt / p.pt) * p.h + hh / p.ph) * p.w + ww / p.pw;
          const int64_t f = (((tt % p.pt) * p.ph + hh % p.ph) * p.pw + ww % p.pw) * p.C + c;
          o[(tt * Ho + hh) * Wo + ww] = x[(b * p.t * p.h * p.w + n) * feat + f];
        }
  });
}
}  // namespace

void unpatchify(const UnpatchifyParams& p) {
  dispatch_float(p.dtype, [&](auto tag) { unpatchify_t<decltype(tag)>(p); });
}

}  // namespace dit::cpu
