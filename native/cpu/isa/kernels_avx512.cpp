#define DIT_ISA_NS avx512
#define DIT_ISA_NAME "avx512"
#define DIT_VEC_BYTES 64
#define DIT_GEMM_MR 14
#include "kernels.inc"
