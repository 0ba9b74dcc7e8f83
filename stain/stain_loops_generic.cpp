// Baseline x86-64 instance of the stain loops (stain_loops.inc), and the choice between instances:
// AVX2 where the CPU has AVX2 and FMA, unless DEEPSLIDE_ISA caps the path at scalar or ref (the
// cap of base/isa_cap.h; stain/ sits below the engine, so it asks the CPU itself).
#define DS_STAIN_LOOPS_FN stain_loops_generic
#include "stain/stain_loops.inc"

#include <atomic>

#include "base/isa_cap.h"

namespace ds {

bool stain_loops_have_avx2() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  return false;
#endif
}

namespace {
std::atomic<const StainLoops*> g_forced{nullptr};
}  // namespace

void force_stain_loops(const StainLoops* loops) { g_forced.store(loops); }

const StainLoops& stain_loops() {
  if (const StainLoops* f = g_forced.load(std::memory_order_relaxed)) return *f;
  static const StainLoops* chosen = [] {
    return isa_cap_from_env() >= Isa::avx2 && stain_loops_have_avx2() ? &stain_loops_avx2() : &stain_loops_generic();
  }();
  return *chosen;
}

}  // namespace ds
