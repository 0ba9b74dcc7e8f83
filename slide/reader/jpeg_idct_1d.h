// jidctint.c's accurate 8-point 1-D inverse DCT, written once for the three instances of
// jpeg_pixels.h: over 64-bit integers (the plain loops, libjpeg's C arithmetic) and over GCC
// vectors of eight or sixteen 32-bit lanes (AVX2, AVX-512). 13-bit fixed-point constants
// (FIX(x) = round(x * 2^13)), the even part's rotation by sqrt(2) c6, the odd part per libjpeg's
// figure 8; the results are not descaled (the caller shifts by 11 after the first pass, by 18
// after the second).
#pragma once
#include <cstdint>

namespace ds {

constexpr int kIdctConstBits = 13, kIdctPass1Bits = 2;

// In place: v[k] holds input k (dequantized coefficient k of a column or row), then output k.
template <class T>
inline __attribute__((always_inline)) void idct_1d_islow(T* v) {
  T z2 = v[2], z3 = v[6];
  T z1 = (z2 + z3) * 4433;                                   // FIX(0.541196100)
  const T tmp2e = z1 + z3 * -15137, tmp3e = z1 + z2 * 6270;  // FIX(1.847759065), FIX(0.765366865)
  const T tmp0e = (v[0] + v[4]) * (1 << kIdctConstBits), tmp1e = (v[0] - v[4]) * (1 << kIdctConstBits);
  const T tmp10 = tmp0e + tmp3e, tmp13 = tmp0e - tmp3e, tmp11 = tmp1e + tmp2e, tmp12 = tmp1e - tmp2e;
  T tmp0 = v[7], tmp1 = v[5], tmp2 = v[3], tmp3 = v[1];
  z1 = tmp0 + tmp3;
  z2 = tmp1 + tmp2;
  z3 = tmp0 + tmp2;
  T z4 = tmp1 + tmp3;
  const T z5 = (z3 + z4) * 9633;  // FIX(1.175875602)
  tmp0 = tmp0 * 2446;             // FIX(0.298631336)
  tmp1 = tmp1 * 16819;            // FIX(2.053119869)
  tmp2 = tmp2 * 25172;            // FIX(3.072711026)
  tmp3 = tmp3 * 12299;            // FIX(1.501321110)
  z1 = z1 * -7373;                // FIX(0.899976223)
  z2 = z2 * -20995;               // FIX(2.562915447)
  z3 = z3 * -16069 + z5;          // FIX(1.961570560)
  z4 = z4 * -3196 + z5;           // FIX(0.390180644)
  tmp0 = tmp0 + z1 + z3;
  tmp1 = tmp1 + z2 + z4;
  tmp2 = tmp2 + z2 + z3;
  tmp3 = tmp3 + z1 + z4;
  v[0] = tmp10 + tmp3, v[7] = tmp10 - tmp3;
  v[1] = tmp11 + tmp2, v[6] = tmp11 - tmp2;
  v[2] = tmp12 + tmp1, v[5] = tmp12 - tmp1;
  v[3] = tmp13 + tmp0, v[4] = tmp13 - tmp0;
}

}  // namespace ds
