// Baseline x86-64 (SSE2) instance of the brgemm micro-kernels (brgemm_tiles.inc), and the
// run-time choice between the per-ISA tables. 4 floats per xmm, 16 registers (the same tile
// limits as AVX2).
#define DS_VW 4
#define DS_MAX_M1 12
#define DS_MAX_M2 6
#define DS_MAX_M3 3
#define DS_MAX_M4 2
#define DS_KERNELS_FN brgemm_kernels_generic
#include "engine/kernels/brgemm_tiles.inc"

namespace ds {

const BrgemmKernels& brgemm_kernels(Isa isa) {
  switch (isa) {
    case Isa::avx512: return brgemm_kernels_avx512();
    case Isa::avx2: return brgemm_kernels_avx2();
    default: return brgemm_kernels_generic();
  }
}

}  // namespace ds
