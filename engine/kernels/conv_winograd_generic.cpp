// Baseline x86-64 (SSE2) instance of the Winograd transforms (conv_winograd_tiles.inc), and the
// run-time choice between the per-ISA tables.
#define DS_VW 4
#define DS_WINO_FN winograd_kernels_generic
#include "engine/kernels/conv_winograd_tiles.inc"

namespace ds {

const WinogradKernels& winograd_kernels(Isa isa) {
  switch (isa) {
    case Isa::avx512: return winograd_kernels_avx512();
    case Isa::avx2: return winograd_kernels_avx2();
    default: return winograd_kernels_generic();
  }
}

}  // namespace ds
