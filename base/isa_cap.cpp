// DEEPSLIDE_ISA (see isa_cap.h).
#include "base/isa_cap.h"

#include <cstdlib>
#include <cstring>

namespace ds {

Isa isa_cap_from_env() {
  const char* e = std::getenv("DEEPSLIDE_ISA");
  if (!e) return Isa::avx512;
  if (!std::strcmp(e, "ref")) return Isa::ref;
  if (!std::strcmp(e, "scalar")) return Isa::scalar;
  if (!std::strcmp(e, "avx2")) return Isa::avx2;
  return Isa::avx512;
}

}  // namespace ds
