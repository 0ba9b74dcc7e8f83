// The instruction-set ladder of the run-time-dispatched code paths and the cap DEEPSLIDE_ISA puts
// on all of them (the engine's kernels, the JPEG pixel stages, the stain loops): each takes the
// best instance the CPU supports, never above the cap. Values: avx512, avx2, scalar (the plain
// loops; for the engine its SSE2 instance) and ref (the engine's reference twins; elsewhere the
// plain loops); unset or empty: no cap; anything else an InputError (deepslide checks it before
// the command runs).
#pragma once

namespace ds {

enum class Isa { ref = 0, scalar = 1, avx2 = 2, avx512 = 3 };  // ordered: a cap is a minimum

// DEEPSLIDE_ISA as read from the environment (each call reads it again; callers cache their choice).
Isa isa_cap_from_env();

}  // namespace ds
