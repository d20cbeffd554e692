// Stand-in for the Hopper (sm_90a) kernels, linear_wgmma.cu, linear_tma.cu, attention_wgmma.cu,
// conv3d_wgmma.cu and conv3d_tma.cu, when they are not built (DIT_CUDA_SM90A=OFF): each reports "not launched".
#include "attention_kernels.h"
#include "conv3d_kernels.h"
#include "linear_kernels.h"

namespace dit::cuda {

template <typename T>
bool linear_wgmma(const LinearParams&) {
  return false;
}

template <typename T>
bool linear_tma(const LinearParams&, TmaEpilogue) {
  return false;
}

template <typename T>
bool attention_wgmma(const AttentionParams&, WgmmaAttentionSchedule) {
  return false;
}

template <typename T>
bool conv3d_wgmma(const Conv3dParams&) {
  return false;
}

template <typename T>
bool conv3d_tma(const Conv3dParams&) {
  return false;
}

template bool linear_wgmma<__half>(const LinearParams&);
template bool linear_wgmma<__nv_bfloat16>(const LinearParams&);
template bool linear_tma<__half>(const LinearParams&, TmaEpilogue);
template bool linear_tma<__nv_bfloat16>(const LinearParams&, TmaEpilogue);
template bool attention_wgmma<__half>(const AttentionParams&, WgmmaAttentionSchedule);
template bool attention_wgmma<__nv_bfloat16>(const AttentionParams&, WgmmaAttentionSchedule);
template bool conv3d_wgmma<__half>(const Conv3dParams&);
template bool conv3d_wgmma<__nv_bfloat16>(const Conv3dParams&);
template bool conv3d_tma<__half>(const Conv3dParams&);
template bool conv3d_tma<__nv_bfloat16>(const Conv3dParams&);

}  // namespace dit::cuda
