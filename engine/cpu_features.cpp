// CPU feature detection via the compiler's cpuid builtins, and the DEEPSLIDE_ISA cap.
#include "engine/cpu_features.h"

#include "base/error.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <string>

#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace ds {

static Isa detect() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
      __builtin_cpu_supports("avx512vl"))
    return Isa::avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::avx2;
#endif
  return Isa::scalar;
}

static Isa hw_isa() {
  static const Isa isa = detect();
  return isa;
}

static std::atomic<int> g_forced{-1};

Isa cpu_isa() {
  static const Isa capped = (Isa)std::min((int)hw_isa(), (int)isa_cap_from_env());
  int f = g_forced.load(std::memory_order_relaxed);
  if (f >= 0) return (Isa)std::min(f, (int)hw_isa());
  return capped;
}

void force_isa(Isa isa) { g_forced.store((int)isa); }

static CpuExtensions detect_extensions() {
  CpuExtensions e;
#if defined(__x86_64__) || defined(__i386__)
  unsigned a, b, c, d;
  if (__get_cpuid_max(0, nullptr) < 7) return e;
  __cpuid_count(7, 0, a, b, c, d);
  const unsigned max_sub = a;
  e.avx512_vnni = (c >> 11) & 1;
  e.amx_bf16 = (d >> 22) & 1;
  e.amx_tile = (d >> 24) & 1;
  e.amx_int8 = (d >> 25) & 1;
  if (max_sub >= 1) {
    __cpuid_count(7, 1, a, b, c, d);
    e.avx_vnni = (a >> 4) & 1;
    e.avx512_bf16 = (a >> 5) & 1;
  }
  // XCR0 is readable (xgetbv) when the OS set CR4.OSXSAVE: CPUID.1:ECX[27].
  __cpuid(1, a, b, c, d);
  if ((c >> 27) & 1) {
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    e.amx_os = ((lo >> 17) & 3) == 3;
  }
#endif
  return e;
}

const CpuExtensions& cpu_extensions() {
  static const CpuExtensions e = detect_extensions();
  return e;
}

bool has_bf16_kernels() { return cpu_extensions().avx512_bf16 && cpu_isa() == Isa::avx512; }

// Linux keeps the 8 KB tile data out of a process's XSAVE area until the process asks for it;
// a tile instruction before that faults (SIGILL).
static bool amx_permitted() {
#if defined(__linux__) && defined(__x86_64__)
  constexpr long kArchReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
  return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
#else
  return false;
#endif
}

// The CPU and OS offer AMX tiles and Linux granted them (asked once).
static bool amx_granted() {
  static const bool granted = [] {
    const CpuExtensions& e = cpu_extensions();
    return e.amx_tile && e.amx_os && (e.amx_bf16 || e.amx_int8) && amx_permitted();
  }();
  return granted;
}

// Opt-in until the AMX tiles have run on an AMX machine (they are tested only on emulated
// registers so far): DEEPSLIDE_AMX=1.
static bool amx_chosen() {
  static const bool chosen = [] {
    const char* env = std::getenv("DEEPSLIDE_AMX");
    if (!env || !*env || std::string(env) == "0") return false;
    if (std::string(env) == "1") return true;
    throw InputError("DEEPSLIDE_AMX", "'" + std::string(env).substr(0, 40) + "' is not 0 or 1");
  }();
  return chosen;
}

bool amx_bf16_tiles_available() { return cpu_extensions().amx_bf16 && amx_granted() && has_bf16_kernels(); }
bool amx_int8_tiles_available() { return cpu_extensions().amx_int8 && amx_granted() && has_avx512_vnni_kernels(); }
bool has_amx_bf16_kernels() { return amx_chosen() && amx_bf16_tiles_available(); }
bool has_amx_int8_kernels() { return amx_chosen() && amx_int8_tiles_available(); }
bool has_avx512_vnni_kernels() { return cpu_extensions().avx512_vnni && cpu_isa() == Isa::avx512; }
bool has_avx_vnni_kernels() { return cpu_extensions().avx_vnni && cpu_isa() >= Isa::avx2; }
bool has_vnni_kernels() { return has_avx512_vnni_kernels() || has_avx_vnni_kernels(); }

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
