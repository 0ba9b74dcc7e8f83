// AVX2 + FMA instance of the stain loops (stain_loops.inc); built with -mavx2 -mfma (CMakeLists.txt).
#define DS_STAIN_LOOPS_FN stain_loops_avx2
#include "stain/stain_loops.inc"
