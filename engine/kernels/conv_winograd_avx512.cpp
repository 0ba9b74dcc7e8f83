// AVX-512 instance of the Winograd transforms (conv_winograd_tiles.inc): 16 channels per zmm.
#define DS_VW 16
#define DS_WINO_FN winograd_kernels_avx512
#include "engine/kernels/conv_winograd_tiles.inc"
