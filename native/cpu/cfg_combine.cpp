// Classifier-free guidance: out[b, c] = c < guided ? uncond + s (cond - uncond) : cond, per
// channel plane of S elements.
#include "ops.h"
#include "thread_pool.h"

namespace dit::cpu {

namespace {
template <typename T>
void cfg_combine_t(const CfgCombineParams& p) {
  const T* cond = static_cast<const T*>(p.cond);
  const T* uncond = static_cast<const T*>(p.uncond);
  T* out = static_cast<T*>(p.out);
  parallel_for(p.B * p.C, [&](int64_t bc, int) {
    const bool guided = bc % p.C < p.guided;
    for (int64_t i = bc * p.S; i < (bc + 1) * p.S; i++) {
      const float c = to_float(cond[i]);
      out[i] = from_float<T>(guided ? to_float(uncond[i]) + p.scale * (c - to_float(uncond[i])) : c);
    }
  });
}
}  // namespace

void cfg_combine(const CfgCombineParams& p) {
  dispatch_float(p.dtype, [&](auto tag) { cfg_combine_t<decltype(tag)>(p); });
}

}  // namespace dit::cpu
