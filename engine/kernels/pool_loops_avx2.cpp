// AVX2 instance of the max-pooling row loop (pool_loops.inc).
#define DS_POOL_FN pool_loops_avx2
#include "engine/kernels/pool_loops.inc"
