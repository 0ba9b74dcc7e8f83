// Cache sizes and CPU identity from CPUID or sysfs (see cpu_caches.h).
#include "engine/cpu_caches.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "base/error.h"

namespace ds {

int64_t parse_cache_size(const std::string& text) {
  size_t i = 0;
  int64_t v = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
    v = v * 10 + (text[i++] - '0');
    if (v > (int64_t(1) << 40)) return -1;
  }
  if (i == 0) return -1;
  int64_t mul = 1;
  if (i < text.size() && (text[i] == 'K' || text[i] == 'k')) mul = 1 << 10, ++i;
  else if (i < text.size() && (text[i] == 'M' || text[i] == 'm')) mul = 1 << 20, ++i;
  while (i < text.size() && (text[i] == '\n' || text[i] == ' ')) ++i;
  return i == text.size() ? v * mul : -1;
}

namespace {

void finish(CpuCaches& c, int l1_sharing) {
  const int threads_per_core = l1_sharing > 0 ? l1_sharing : 1;
  const int cores = c.l3_sharing > 0 ? std::max(1, c.l3_sharing / threads_per_core) : 1;
  c.l3_per_core = c.l3 / cores;
}

#if defined(__x86_64__) || defined(__i386__)
// One deterministic cache parameters leaf (4 or 0x8000001D): the same layout on both vendors.
void walk_cache_leaf(unsigned leaf, CpuCaches& c, int& l1_sharing) {
  for (unsigned sub = 0; sub < 16; ++sub) {
    unsigned a, b, cx, d;
    __cpuid_count(leaf, sub, a, b, cx, d);
    const unsigned type = a & 31, level = (a >> 5) & 7;
    if (type == 0) break;
    const int sharing = (int)((a >> 14) & 0xfff) + 1;
    const int64_t size = int64_t((b >> 22) + 1) * (((b >> 12) & 0x3ff) + 1) * ((b & 0xfff) + 1) * (int64_t(cx) + 1);
    if (level == 1 && type == 1) c.l1d = size, l1_sharing = sharing;
    if (level == 2 && type != 2) c.l2 = size;
    if (level == 3 && type != 2) c.l3 = size, c.l3_sharing = sharing;
  }
}
#endif

}  // namespace

CpuCaches caches_from_cpuid() {
  CpuCaches c;
  c.source = "cpuid";
  int l1_sharing = 0;
#if defined(__x86_64__) || defined(__i386__)
  const CpuIdentity& id = cpu_identity();
  const bool amd = id.vendor == "AuthenticAMD" || id.vendor == "HygonGenuine";
  unsigned a, b, cx, d;
  const unsigned max_ext = __get_cpuid_max(0x80000000, nullptr);
  if (amd) {
    bool topo = false;
    if (max_ext >= 0x80000001) {
      __cpuid(0x80000001, a, b, cx, d);
      topo = (cx >> 22) & 1;
    }
    if (topo && max_ext >= 0x8000001D) {
      walk_cache_leaf(0x8000001D, c, l1_sharing);
    } else if (max_ext >= 0x80000006) {  // legacy: sizes only
      __cpuid(0x80000005, a, b, cx, d);
      c.l1d = int64_t(cx >> 24) << 10;
      __cpuid(0x80000006, a, b, cx, d);
      c.l2 = int64_t(cx >> 16) << 10;
      c.l3 = int64_t(d >> 18) * (512 << 10);
    }
  } else if (__get_cpuid_max(0, nullptr) >= 4) {
    walk_cache_leaf(4, c, l1_sharing);
  }
#endif
  finish(c, l1_sharing);
  return c;
}

CpuCaches caches_from_sysfs(const std::string& dir) {
  CpuCaches c;
  c.source = "sysfs";
  int l1_sharing = 0;
  auto read = [](const std::string& path) {
    std::ifstream f(path);
    std::string s;
    std::getline(f, s);
    return s;
  };
  // "0-1,4,6-7" -> 5 CPUs.
  auto count_cpus = [](const std::string& list) {
    int n = 0;
    std::stringstream ss(list);
    std::string part;
    while (std::getline(ss, part, ',')) {
      const size_t dash = part.find('-');
      const int lo = std::atoi(part.c_str()), hi = dash == std::string::npos ? lo : std::atoi(part.c_str() + dash + 1);
      if (hi >= lo && hi - lo < 1 << 16) n += hi - lo + 1;
    }
    return n;
  };
  for (int i = 0; i < 16; ++i) {
    const std::string idx = dir + "/index" + std::to_string(i) + "/";
    const std::string level = read(idx + "level"), type = read(idx + "type");
    if (level.empty()) continue;
    const int64_t size = parse_cache_size(read(idx + "size"));
    if (size <= 0) continue;
    const int sharing = count_cpus(read(idx + "shared_cpu_list"));
    if (level == "1" && type == "Data") c.l1d = size, l1_sharing = sharing;
    if (level == "2" && type != "Instruction") c.l2 = size;
    if (level == "3" && type != "Instruction") c.l3 = size, c.l3_sharing = sharing;
  }
  finish(c, l1_sharing);
  return c;
}

namespace {

// DEEPSLIDE_CACHES="l1d=48K,l2=1M,l3=32M" over `c`; InputError for an entry that is not one of
// those keys with a size (as DEEPSLIDE_CONV_BLOCKING's parser does: a typo must not pass silently).
void apply_env(CpuCaches& c, const char* spec) {
  std::stringstream ss(spec);
  std::string item;
  bool any = false;
  while (std::getline(ss, item, ',')) {
    const size_t eq = item.find('=');
    const std::string key = item.substr(0, eq);
    const int64_t v = eq == std::string::npos ? -1 : parse_cache_size(item.substr(eq + 1));
    if (v <= 0 || (key != "l1d" && key != "l2" && key != "l3"))
      throw InputError("DEEPSLIDE_CACHES", "'" + item + "' is not l1d|l2|l3=SIZE (bytes, or with K or M; up to 2^40)");
    if (key == "l1d") c.l1d = v, any = true;
    if (key == "l2") c.l2 = v, any = true;
    if (key == "l3") c.l3 = v, c.l3_per_core = v, c.l3_sharing = 0, any = true;
  }
  if (any) c.source = "env";
}

CpuCaches detect_caches() {
  CpuCaches c = caches_from_cpuid();
  if (c.l1d <= 0 || c.l2 <= 0) c = caches_from_sysfs("/sys/devices/system/cpu/cpu0/cache");
  if (c.l1d <= 0 || c.l2 <= 0) {
    c = CpuCaches{};
    c.l1d = 48 << 10, c.l2 = 1 << 20, c.l3 = 32 << 20, c.l3_per_core = 4 << 20;
    c.source = "default";
  }
  if (const char* e = std::getenv("DEEPSLIDE_CACHES")) apply_env(c, e);
  return c;
}

CpuIdentity detect_identity() {
  CpuIdentity id;
  id.vendor = "unknown";
#if defined(__x86_64__) || defined(__i386__)
  unsigned a, b, c, d;
  __cpuid(0, a, b, c, d);
  char v[13] = {};
  std::memcpy(v, &b, 4), std::memcpy(v + 4, &d, 4), std::memcpy(v + 8, &c, 4);
  id.vendor = v;
  __cpuid(1, a, b, c, d);
  const int base_family = (a >> 8) & 15, base_model = (a >> 4) & 15;
  id.family = base_family == 15 ? base_family + (int)((a >> 20) & 0xff) : base_family;
  id.model = base_family == 6 || base_family == 15 ? base_model + (int)(((a >> 16) & 15) << 4) : base_model;
  id.stepping = a & 15;
  if (__get_cpuid_max(0x80000000, nullptr) >= 0x80000004) {
    char brand[49] = {};
    for (unsigned i = 0; i < 3; ++i) {
      __cpuid(0x80000002 + i, a, b, c, d);
      std::memcpy(brand + 16 * i, &a, 4), std::memcpy(brand + 16 * i + 4, &b, 4);
      std::memcpy(brand + 16 * i + 8, &c, 4), std::memcpy(brand + 16 * i + 12, &d, 4);
    }
    std::string s = brand;
    while (!s.empty() && s.back() == ' ') s.pop_back();
    while (!s.empty() && s.front() == ' ') s.erase(s.begin());
    id.brand = s;
  }
#endif
  return id;
}

}  // namespace

const CpuCaches& cpu_caches() {
  static const CpuCaches c = detect_caches();
  return c;
}

const CpuIdentity& cpu_identity() {
  static const CpuIdentity id = detect_identity();
  return id;
}

}  // namespace ds
