#define DIT_ISA_NS sse2
#define DIT_ISA_NAME "sse2"
#define DIT_VEC_BYTES 16
#define DIT_GEMM_MR 6
#include "kernels.inc"
