// The plain instance of jpeg_pixels.h: libjpeg-turbo's C arithmetic written out (jidctint.c's
// accurate IDCT with 64-bit products, jdsample.c's h2v1 fancy upsampling, jdcolor.c's tables),
// the reference the AVX2 instance is tested against, and the run-time choice between them.
#include <atomic>
#include <cstdlib>
#include <cstring>

#include "slide/reader/jpeg_pixels.h"

namespace ds {

namespace {

// jidctint.c: 13-bit constants, 2 extra bits kept between the passes.
constexpr int kConstBits = 13, kPass1Bits = 2;
constexpr int64_t kFix0298631336 = 2446, kFix0390180644 = 3196, kFix0541196100 = 4433, kFix0765366865 = 6270,
                  kFix0899976223 = 7373, kFix1175875602 = 9633, kFix1501321110 = 12299, kFix1847759065 = 15137,
                  kFix1961570560 = 16069, kFix2053119869 = 16819, kFix2562915447 = 20995, kFix3072711026 = 25172;

int64_t descale(int64_t x, int n) { return (x + ((int64_t)1 << (n - 1))) >> n; }

// libjpeg's post-IDCT range limit: the low 10 bits of the value, read as -512..511, plus 128,
// clamped to 0..255 (its table, indexed by value & 1023).
uint8_t range_limit(int64_t v) {
  const int i = (int)v & 1023;
  return i < 128 ? (uint8_t)(i + 128) : i < 512 ? 255 : i < 896 ? 0 : (uint8_t)(i - 896);
}

// One 1-D 8-point IDCT of in[0], in[s], ..., in[7 s] (even part, odd part, butterflies), the
// eight results before descaling.
void idct_1d(const int64_t* in, int64_t* out) {
  int64_t z2 = in[2], z3 = in[6];
  int64_t z1 = (z2 + z3) * kFix0541196100;
  const int64_t tmp2e = z1 + z3 * -kFix1847759065, tmp3e = z1 + z2 * kFix0765366865;
  const int64_t tmp0e = (in[0] + in[4]) * (1 << kConstBits), tmp1e = (in[0] - in[4]) * (1 << kConstBits);
  const int64_t tmp10 = tmp0e + tmp3e, tmp13 = tmp0e - tmp3e, tmp11 = tmp1e + tmp2e, tmp12 = tmp1e - tmp2e;
  int64_t tmp0 = in[7], tmp1 = in[5], tmp2 = in[3], tmp3 = in[1];
  z1 = tmp0 + tmp3;
  z2 = tmp1 + tmp2;
  z3 = tmp0 + tmp2;
  int64_t z4 = tmp1 + tmp3;
  const int64_t z5 = (z3 + z4) * kFix1175875602;
  tmp0 *= kFix0298631336;
  tmp1 *= kFix2053119869;
  tmp2 *= kFix3072711026;
  tmp3 *= kFix1501321110;
  z1 *= -kFix0899976223;
  z2 *= -kFix2562915447;
  z3 = z3 * -kFix1961570560 + z5;
  z4 = z4 * -kFix0390180644 + z5;
  tmp0 += z1 + z3;
  tmp1 += z2 + z4;
  tmp2 += z2 + z3;
  tmp3 += z1 + z4;
  out[0] = tmp10 + tmp3, out[7] = tmp10 - tmp3;
  out[1] = tmp11 + tmp2, out[6] = tmp11 - tmp2;
  out[2] = tmp12 + tmp1, out[5] = tmp12 - tmp1;
  out[3] = tmp13 + tmp0, out[4] = tmp13 - tmp0;
}

constexpr int64_t kLimit = 1 << 14;  // see JpegPixels::idct

bool idct_generic(const int16_t* coef, const int16_t* quant, uint8_t* out, size_t stride) {
  int32_t ws[64];  // libjpeg's workspace: ints
  int64_t in[8], res[8];
  bool in_range = true;
  for (int c = 0; c < 8; ++c) {  // pass 1: columns
    for (int r = 0; r < 8; ++r) {
      in[r] = (int32_t)coef[r * 8 + c] * (int32_t)quant[r * 8 + c];
      in_range &= in[r] >= -kLimit && in[r] < kLimit;
    }
    idct_1d(in, res);
    for (int r = 0; r < 8; ++r) {
      ws[r * 8 + c] = (int32_t)descale(res[r], kConstBits - kPass1Bits);
      in_range &= ws[r * 8 + c] >= -kLimit && ws[r * 8 + c] < kLimit;
    }
  }
  for (int r = 0; r < 8; ++r) {  // pass 2: rows, descaled by 8 and the pass-1 bits
    for (int c = 0; c < 8; ++c) in[c] = ws[r * 8 + c];
    idct_1d(in, res);
    for (int c = 0; c < 8; ++c) {
      const int64_t v = descale(res[c], kConstBits + kPass1Bits + 3);
      in_range &= v >= -512 && v <= 511;
      out[r * stride + c] = range_limit(v);
    }
  }
  return in_range;
}

void upsample_h2v1_generic(const uint8_t* in, int in_w, int c0, int c1, uint8_t* out) {
  for (int c = c0; c < c1; ++c) {
    const int i = c >> 1, v = in[i] * 3;
    if (c & 1) out[c - c0] = i == in_w - 1 ? in[i] : (uint8_t)((v + in[i + 1] + 2) >> 2);
    else out[c - c0] = i == 0 ? in[i] : (uint8_t)((v + in[i - 1] + 1) >> 2);
  }
}

// jdcolor.c's tables: R = Y + 1.402 Cr', G = Y - 0.34414 Cb' - 0.71414 Cr', B = Y + 1.772 Cb'
// (Cb' = Cb - 128), 16-bit fixed point, rounded where libjpeg rounds.
struct YccTables {
  int cr_r[256], cb_b[256], cr_g[256], cb_g[256];
  YccTables() {
    constexpr int kScale = 16;
    constexpr int32_t kHalf = 1 << (kScale - 1);
    auto fix = [](double x) { return (int32_t)(x * (1 << kScale) + 0.5); };
    for (int i = 0; i < 256; ++i) {
      const int32_t x = i - 128;
      cr_r[i] = (fix(1.40200) * x + kHalf) >> kScale;
      cb_b[i] = (fix(1.77200) * x + kHalf) >> kScale;
      cr_g[i] = -fix(0.71414) * x;
      cb_g[i] = -fix(0.34414) * x + kHalf;
    }
  }
};

uint8_t clamp255(int v) { return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v); }

void ycc_rgb_generic(const uint8_t* y, const uint8_t* cb, const uint8_t* cr, uint8_t* rgb, int n) {
  static const YccTables t;
  for (int i = 0; i < n; ++i) {
    const int yy = y[i];
    rgb[3 * i] = clamp255(yy + t.cr_r[cr[i]]);
    rgb[3 * i + 1] = clamp255(yy + ((t.cb_g[cb[i]] + t.cr_g[cr[i]]) >> 16));
    rgb[3 * i + 2] = clamp255(yy + t.cb_b[cb[i]]);
  }
}

std::atomic<const JpegPixels*> g_forced{nullptr};

}  // namespace

const JpegPixels& jpeg_pixels_generic() {
  static const JpegPixels p{idct_generic,
                            [](const int16_t* ca, const int16_t* qa, uint8_t* oa, size_t sa, const int16_t* cb,
                               const int16_t* qb, uint8_t* ob, size_t sb) {
                              const bool a = idct_generic(ca, qa, oa, sa);
                              return idct_generic(cb, qb, ob, sb) && a;
                            },
                            upsample_h2v1_generic, ycc_rgb_generic};
  return p;
}

bool jpeg_pixels_have_avx2() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2");
#else
  return false;
#endif
}

bool jpeg_pixels_have_avx512() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  return jpeg_pixels_have_avx2() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
#else
  return false;
#endif
}

void force_jpeg_pixels(const JpegPixels* pixels) { g_forced.store(pixels); }

const JpegPixels& jpeg_pixels() {
  if (const JpegPixels* f = g_forced.load(std::memory_order_relaxed)) return *f;
  static const JpegPixels* chosen = [] {
    const char* cap = std::getenv("DEEPSLIDE_ISA");
    const bool plain = cap && (!std::strcmp(cap, "scalar") || !std::strcmp(cap, "ref"));
    const bool no_avx512 = plain || (cap && !std::strcmp(cap, "avx2"));
    if (!no_avx512 && jpeg_pixels_have_avx512()) return &jpeg_pixels_avx512();
    return !plain && jpeg_pixels_have_avx2() ? &jpeg_pixels_avx2() : &jpeg_pixels_generic();
  }();
  return *chosen;
}

}  // namespace ds
