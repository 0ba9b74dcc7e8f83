// CPU feature detection via the compiler's cpuid builtins, and the DEEPSLIDE_ISA cap.
#include "engine/cpu_features.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>

namespace ds {

static Isa detect() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
    return Isa::avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::avx2;
#endif
  return Isa::scalar;
}

static Isa hw_isa() {
  static const Isa isa = detect();
  return isa;
}

static Isa env_cap() {
  const char* e = std::getenv("DEEPSLIDE_ISA");
  if (!e) return Isa::avx512;
  if (!std::strcmp(e, "ref")) return Isa::ref;
  if (!std::strcmp(e, "scalar")) return Isa::scalar;
  if (!std::strcmp(e, "avx2")) return Isa::avx2;
  return Isa::avx512;
}

static std::atomic<int> g_forced{-1};

Isa cpu_isa() {
  static const Isa capped = (Isa)std::min((int)hw_isa(), (int)env_cap());
  int f = g_forced.load(std::memory_order_relaxed);
  if (f >= 0) return (Isa)std::min(f, (int)hw_isa());
  return capped;
}

void force_isa(Isa isa) { g_forced.store((int)isa); }

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::avx512: return "avx512";
    case Isa::avx2: return "avx2";
    case Isa::scalar: return "scalar";
    case Isa::ref: return "ref";
  }
  return "?";
}

}  // namespace ds
