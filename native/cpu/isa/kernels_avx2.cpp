#define DIT_ISA_NS avx2
#define DIT_ISA_NAME "avx2"
#define DIT_VEC_BYTES 32
#define DIT_GEMM_MR 6
#include "kernels.inc"
