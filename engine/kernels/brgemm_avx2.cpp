// AVX2 + FMA instance of the brgemm micro-kernels (brgemm_tiles.inc): 8 floats per ymm, 16
// registers: M x NV accumulators + NV B vectors + 1 broadcast must fit (12 x 1, 6 x 2, 3 x 3,
// 2 x 4).
#define DS_VW 8
#define DS_MAX_M1 12
#define DS_MAX_M2 6
#define DS_MAX_M3 3
#define DS_MAX_M4 2
#define DS_KERNELS_FN brgemm_kernels_avx2
#include "engine/kernels/brgemm_tiles.inc"
