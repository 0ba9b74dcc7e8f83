// AVX-512 instance of the brgemm micro-kernels (brgemm_tiles.inc): 16 floats per zmm, 32
// registers, so up to 28 accumulators (14 x 2, 9 x 3, 7 x 4).
#define DS_VW 16
#define DS_MAX_M1 14
#define DS_MAX_M2 14
#define DS_MAX_M3 9
#define DS_MAX_M4 7
#define DS_ISA Isa::avx512
#define DS_KERNELS_FN brgemm_kernels_avx512
#include "engine/kernels/brgemm_tiles.inc"
