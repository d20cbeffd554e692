// Stand-in for the Hopper (sm_90a) kernels, linear_wgmma.cu, linear_tma.cu and
// attention_wgmma.cu, when they are not built (DIT_CUDA_SM90A=OFF): each reports "not launched".
#include "attention_kernels.h"
#include "linear_kernels.h"

namespace dit::cuda {

template <typename T>
bool linear_wgmma(const LinearParams&) {
  return false;
}

template <typename T>
bool linear_tma(const LinearParams&) {
  return false;
}

template <typename T>
bool attention_wgmma(const AttentionParams&) {
  return false;
}

template bool linear_wgmma<__half>(const LinearParams&);
template bool linear_wgmma<__nv_bfloat16>(const LinearParams&);
template bool linear_tma<__half>(const LinearParams&);
template bool linear_tma<__nv_bfloat16>(const LinearParams&);
template bool attention_wgmma<__half>(const AttentionParams&);
template bool attention_wgmma<__nv_bfloat16>(const AttentionParams&);

}  // namespace dit::cuda
