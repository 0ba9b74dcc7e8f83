// AVX-512 instance of the brgemm micro-kernels (brgemm_tiles.inc): 16 floats per zmm, 32
// registers: M x NV accumulators + NV B vectors + 1 broadcast must fit (24 + 4 + 1 at 6 x 4; at
// 7 x 4 GCC spills an accumulator to the stack, which slows every tile).
#define DS_VW 16
#define DS_MAX_M1 14
#define DS_MAX_M2 14
#define DS_MAX_M3 8
#define DS_MAX_M4 6
#define DS_KERNELS_FN brgemm_kernels_avx512
#include "engine/kernels/brgemm_tiles.inc"
