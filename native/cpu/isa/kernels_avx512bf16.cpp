// AVX-512 plus the BF16 dot-product instructions (Zen 4 and later, Cooper Lake, Sapphire Rapids):
// the avx512 kernels with a bf16 GEMM that runs at twice the f32 rate.
#define DIT_ISA_NS avx512bf16
#define DIT_ISA_NAME "avx512bf16"
#define DIT_VEC_BYTES 64
#define DIT_GEMM_MR 14
#include "kernels.inc"
