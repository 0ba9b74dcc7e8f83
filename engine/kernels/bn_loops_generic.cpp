// Baseline x86-64 (SSE2) instance of the BatchNorm loops (bn_loops.inc), and the run-time
// choice between the per-ISA tables.
#define DS_BN_FN bn_loops_generic
#include "engine/kernels/bn_loops.inc"

namespace ds {

const BnLoops& bn_loops(Isa isa) {
  switch (isa) {
    case Isa::avx512: return bn_loops_avx512();
    case Isa::avx2: return bn_loops_avx2();
    default: return bn_loops_generic();
  }
}

}  // namespace ds
