// DEEPSLIDE_ISA (see isa_cap.h).
#include "base/isa_cap.h"

#include <cstdlib>
#include <cstring>
#include <string>

#include "base/error.h"

namespace ds {

Isa isa_cap_from_env() {
  const char* e = std::getenv("DEEPSLIDE_ISA");
  if (!e) return Isa::avx512;
  if (!std::strcmp(e, "ref")) return Isa::ref;
  if (!std::strcmp(e, "scalar")) return Isa::scalar;
  if (!std::strcmp(e, "avx2")) return Isa::avx2;
  if (!*e || !std::strcmp(e, "avx512")) return Isa::avx512;
  // A typo would otherwise run (and benchmark) the fastest path while the user thinks it capped.
  throw InputError("DEEPSLIDE_ISA", "'" + std::string(e).substr(0, 40) + "' is not ref, scalar, avx2 or avx512");
}

}  // namespace ds
