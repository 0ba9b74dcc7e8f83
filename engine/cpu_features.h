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
#include "base/isa_cap.h"

namespace ds {

Isa cpu_isa();                  // best supported path (cached), capped by DEEPSLIDE_ISA or force_isa
const char* isa_name(Isa isa);  // "ref", "scalar", "avx2", "avx512"
void force_isa(Isa isa);        // for tests: cap the path (cannot raise it above the CPU's)

// Extensions beyond the Isa ladder, read from CPUID once (the OS's XSAVE state checked too: AMX
// tiles need the kernel to enable them). They describe the hardware only; whether a kernel uses
// one also depends on cpu_isa() (bf16 kernels need the avx512 path, see has_bf16_kernels()).
struct CpuExtensions {
  bool avx512_bf16 = false;  // CPUID.(EAX=7,ECX=1):EAX[5]: vdpbf16ps, vcvtne2ps2bf16
  bool avx512_vnni = false;  // CPUID.(EAX=7,ECX=0):ECX[11]: vpdpbusd (int8)
  bool avx_vnni = false;     // CPUID.(EAX=7,ECX=1):EAX[4]: vpdpbusd on 256-bit registers, VEX-encoded
  bool amx_bf16 = false;     // CPUID.(EAX=7,ECX=0):EDX[22]
  bool amx_tile = false;     // CPUID.(EAX=7,ECX=0):EDX[24]
  bool amx_int8 = false;     // CPUID.(EAX=7,ECX=0):EDX[25]
  bool amx_os = false;       // XCR0 bits 17-18 (XTILECFG, XTILEDATA) set by the OS
};
const CpuExtensions& cpu_extensions();

// The AVX512-BF16 kernels run: the CPU has AVX512-BF16 and the path is not capped below avx512
// (DEEPSLIDE_ISA / force_isa). Otherwise bf16 kernels run their reference twins.
bool has_bf16_kernels();
// The AMX-BF16 tiles can run (engine/kernels/lowp_conv_amx.cpp): the bf16 kernels run, the CPU
// has AMX-TILE and AMX-BF16, the OS enables the tile state in XCR0 and grants this process its use
// (Linux: arch_prctl ARCH_REQ_XCOMP_PERM, asked once, here). Likewise AMX-INT8 with the VNNI kernels.
bool amx_bf16_tiles_available();
bool amx_int8_tiles_available();
// They do run the bf16 / int8 convolutions: available and chosen with DEEPSLIDE_AMX=1 (opt-in
// until they have run on an AMX machine; otherwise the AVX512-BF16 / VNNI tiles).
bool has_amx_bf16_kernels();
bool has_amx_int8_kernels();
// The int8 kernels (engine/kernels/conv_int8.h) run on AVX512-VNNI: the CPU has it and the path
// is not capped below avx512; or on AVX-VNNI (256-bit: Intel Alder Lake and later, AMD Zen 5): the
// CPU has it and the path is not capped below avx2. has_vnni_kernels(): either (AVX512-VNNI
// first); otherwise int8 kernels run their reference twins.
bool has_avx512_vnni_kernels();
bool has_avx_vnni_kernels();
bool has_vnni_kernels();

// True in reference mode: each kernel with a `_ref` twin asks this once, on entry, and runs the
// twin instead (the one place a kernel chooses between them).
inline bool reference_kernels() { return cpu_isa() == Isa::ref; }

}  // namespace ds
