// SHA-256's compression function over whole 64-byte blocks, twice: the plain C++ one (FIPS 180-4
// section 6.2) and one on the x86 SHA extensions (sha256rnds2, sha256msg1/2: Intel since Goldmont
// and Ice Lake, AMD since Zen), chosen once at run time. Sha256 (sha256.h) runs the chosen one;
// tests run both and compare.
#pragma once
#include <cstddef>
#include <cstdint>

namespace ds {

// The 64 round constants (FIPS 180-4 section 4.2.2), 16-byte aligned for the vector loads.
extern const uint32_t kSha256Round[64];

// h: the eight state words (A..H); p: `blocks` blocks of 64 bytes.
void sha256_blocks_portable(uint32_t h[8], const uint8_t* p, size_t blocks);
void sha256_blocks_shani(uint32_t h[8], const uint8_t* p, size_t blocks);  // only where available
bool sha256_shani_available();                                             // CPUID leaf 7: EBX bit 29, and SSE4.1

}  // namespace ds
