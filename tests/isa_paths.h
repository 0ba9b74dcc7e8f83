// Which ISA paths a per-ISA kernel test runs on this CPU (shared by the kernel tests).
#pragma once
#include <cstdio>
#include <vector>

#include "engine/cpu_features.h"

namespace ds::test {

// The ISA paths a per-ISA kernel test runs on this CPU: scalar, then avx2 and avx512 where
// cpu_isa() has them (with_ref: the reference twins first, through the dispatch). It says plainly
// when the avx512 path is not run, so a skipped path is never read as passed.
inline std::vector<Isa> isa_paths(bool with_ref = false) {
  std::vector<Isa> isas;
  if (with_ref) isas.push_back(Isa::ref);
  isas.push_back(Isa::scalar);
  if ((int)cpu_isa() >= (int)Isa::avx2) isas.push_back(Isa::avx2);
  if ((int)cpu_isa() >= (int)Isa::avx512) isas.push_back(Isa::avx512);
  else std::printf("not run: avx512 path (CPU or DEEPSLIDE_ISA lacks it)\n");
  return isas;
}

}  // namespace ds::test
