// AVX2 instance of the Winograd transforms (conv_winograd_tiles.inc): 8 channels per ymm.
#define DS_VW 8
#define DS_WINO_FN winograd_kernels_avx2
#include "engine/kernels/conv_winograd_tiles.inc"
