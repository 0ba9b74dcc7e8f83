// Run-time CPU feature detection: which SIMD path the kernels take. One binary runs on any
// x86-64; DEEPSLIDE_ISA=scalar|avx2|avx512 in the environment forces a lower path (tests, bench).
#pragma once
#include <string>

namespace ds {

enum class Isa { scalar = 0, avx2 = 1, avx512 = 2 };

Isa cpu_isa();                 // best supported path (cached), capped by DEEPSLIDE_ISA
const char* isa_name(Isa isa);
void force_isa(Isa isa);       // for tests: cap the path (cannot raise it above the CPU's)

}  // namespace ds
