// The CPU's cache sizes and identity, read at run time: the convolution kernels size their
// blocking from them (engine/kernels/conv_blocking.h) and the tuning file is keyed by the CPU's
// identity. CPUID first (leaf 4 on Intel, 0x8000001D on AMD and Hygon, AMD's legacy 0x80000005/6
// when the topology leaf is missing), then Linux's sysfs (/sys/devices/system/cpu/cpu0/cache),
// then fixed defaults (Zen 5's sizes, which the constants were first tuned on).
// DEEPSLIDE_CACHES="l1d=48K,l2=1M,l3=32M" replaces the detected sizes (experiments: the
// blocking another CPU would get).
#pragma once
#include <cstdint>
#include <string>

namespace ds {

struct CpuCaches {
  int64_t l1d = 0;          // bytes, one core's L1 data cache
  int64_t l2 = 0;           // bytes, one core's L2
  int64_t l3 = 0;           // bytes, the whole L3 a core sees (0: none)
  int l3_sharing = 0;       // logical CPUs sharing that L3 (0: unknown)
  int64_t l3_per_core = 0;  // l3 / cores sharing it (l3 when the sharing is unknown)
  std::string source;       // "cpuid", "sysfs", "env" or "default"
};

struct CpuIdentity {
  std::string vendor;                       // "GenuineIntel", "AuthenticAMD", ... ("unknown" off x86)
  std::string brand;                        // the brand string, e.g. "AMD EPYC 9R45 96-Core Processor"
  int family = 0, model = 0, stepping = 0;  // display family and model (extended fields added)
};

const CpuCaches& cpu_caches();      // detected once (or DEEPSLIDE_CACHES)
const CpuIdentity& cpu_identity();  // read once

// The pieces, for tests: CPUID alone (source "cpuid", sizes 0 where it says nothing), and a
// sysfs cache folder such as "/sys/devices/system/cpu/cpu0/cache" (source "sysfs", sizes 0 when
// it is missing or unreadable).
CpuCaches caches_from_cpuid();
CpuCaches caches_from_sysfs(const std::string& dir);
// "48K", "1M", "32768K", "512" (bytes) -> bytes; -1 if malformed.
int64_t parse_cache_size(const std::string& text);

}  // namespace ds
