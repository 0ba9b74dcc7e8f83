// AVX-512 instance of the max-pooling row loop (pool_loops.inc).
#define DS_POOL_FN pool_loops_avx512
#include "engine/kernels/pool_loops.inc"
