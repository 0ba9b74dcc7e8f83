// Baseline x86-64 (SSE2) instance of the max-pooling row loop (pool_loops.inc), and the run-time
// choice between the per-ISA tables.
#define DS_POOL_FN pool_loops_generic
#include "engine/kernels/pool_loops.inc"

namespace ds {

const PoolLoops& pool_loops(Isa isa) {
  switch (isa) {
    case Isa::avx512: return pool_loops_avx512();
    case Isa::avx2: return pool_loops_avx2();
    default: return pool_loops_generic();
  }
}

}  // namespace ds
