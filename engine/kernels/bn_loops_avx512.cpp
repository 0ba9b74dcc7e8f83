// AVX-512 instance of the BatchNorm loops (bn_loops.inc).
#define DS_BN_FN bn_loops_avx512
#include "engine/kernels/bn_loops.inc"
