// Which code path the kernels take, chosen at run time: one binary runs on any x86-64. The
// blocked kernels (convolutions, BatchNorm) are compiled once per ISA and the best instance the
// CPU supports is taken; DEEPSLIDE_ISA in the environment caps the path (tests, benchmarks,
// debugging):
//   avx512, avx2  the blocked kernels' SIMD instances (never above what the CPU supports);
//   scalar        the blocked kernels' baseline x86-64 (SSE2) instance: the same schedule and
//                 tiles as the SIMD paths, 4 floats per vector;
//   ref           the reference loops instead of the blocked kernels: every kernel with a blocked
//                 or SIMD fast path runs its `_ref` twin (direct loops, double sums), and every
//                 kernel runs on the calling thread, so a debugger steps through a training step
//                 in order. Many times slower; results equal the fast paths' up to rounding.
// The kernels that are plain loops already (elementwise, Adam, softmax, global average pooling,
// max-pool backward, layout transposes) are their own reference.
#pragma once

namespace ds {

enum class Isa { ref = 0, scalar = 1, avx2 = 2, avx512 = 3 };  // ordered: a cap is a minimum

Isa cpu_isa();            // best supported path (cached), capped by DEEPSLIDE_ISA or force_isa
const char* isa_name(Isa isa);  // "ref", "scalar", "avx2", "avx512"
void force_isa(Isa isa);  // for tests: cap the path (cannot raise it above the CPU's)

// True in reference mode: each kernel with a `_ref` twin asks this once, on entry, and runs the
// twin instead (the one place a kernel chooses between them).
inline bool reference_kernels() { return cpu_isa() == Isa::ref; }

}  // namespace ds
