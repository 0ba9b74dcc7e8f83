// FNV-1a, 64-bit: a small, stable, platform-independent hash for seeds, file checksums and
// stage fingerprints (not for security).
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace ds {

constexpr uint64_t kFnvOffset = 0xcbf29ce484222325ull;  // the standard offset basis
// A basis with one digit short of the standard one, used since the first release by the split
// seed and the stage stamps; kept so their splits and fingerprints do not change.
constexpr uint64_t kFnvOffsetLegacy = 1469598103934665603ull;

// Hashes n bytes, continuing from h (pass the previous result to hash data in pieces).
inline uint64_t fnv1a(const void* data, size_t n, uint64_t h = kFnvOffset) {
  const unsigned char* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ull;
  return h;
}

// The same step over 8-byte words (the tail byte by byte): eight times fewer multiplies, for
// fingerprints compared in memory only (its values differ from fnv1a's, so never store them).
// Each step is a bijection of h, so a change in any one word always changes the result.
inline uint64_t fnv1a_words(const void* data, size_t n, uint64_t h = kFnvOffset) {
  const unsigned char* p = static_cast<const unsigned char*>(data);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, p + i, 8);
    h = (h ^ w) * 0x100000001b3ull;
  }
  return fnv1a(p + i, n - i, h);
}

}  // namespace ds
