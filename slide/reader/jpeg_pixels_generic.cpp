// The plain instance of jpeg_pixels.h: libjpeg-turbo's C arithmetic written out (jidctint.c's
// accurate IDCT with 64-bit products, jdsample.c's h2v1 fancy upsampling, jdcolor.c's tables),
// the reference the AVX2 instance is tested against, and the run-time choice between them.
#include <atomic>

#include "base/isa_cap.h"
#include "slide/reader/jpeg_idct_1d.h"
#include "slide/reader/jpeg_pixels.h"

namespace ds {

namespace {

constexpr int kConstBits = kIdctConstBits, kPass1Bits = kIdctPass1Bits;

int64_t descale(int64_t x, int n) { return (x + ((int64_t)1 << (n - 1))) >> n; }

// libjpeg's post-IDCT range limit: the low 10 bits of the value, read as -512..511, plus 128,
// clamped to 0..255 (its table, indexed by value & 1023).
uint8_t range_limit(int64_t v) {
  const int i = (int)v & 1023;
  return i < 128 ? (uint8_t)(i + 128) : i < 512 ? 255 : i < 896 ? 0 : (uint8_t)(i - 896);
}

constexpr int64_t kLimit = 1 << 14;  // see JpegPixels::idct

bool idct_generic(const int16_t* coef, const int16_t* quant, uint8_t* out, size_t stride) {
  int32_t ws[64];  // libjpeg's workspace: ints
  int64_t in[8];
  bool in_range = true;
  for (int c = 0; c < 8; ++c) {  // pass 1: columns
    for (int r = 0; r < 8; ++r) {
      in[r] = (int32_t)coef[r * 8 + c] * (int32_t)quant[r * 8 + c];
      in_range &= in[r] >= -kLimit && in[r] < kLimit;
    }
    idct_1d_islow(in);
    for (int r = 0; r < 8; ++r) {
      ws[r * 8 + c] = (int32_t)descale(in[r], kConstBits - kPass1Bits);
      in_range &= ws[r * 8 + c] >= -kLimit && ws[r * 8 + c] < kLimit;
    }
  }
  for (int r = 0; r < 8; ++r) {  // pass 2: rows, descaled by 8 and the pass-1 bits
    for (int c = 0; c < 8; ++c) in[c] = ws[r * 8 + c];
    idct_1d_islow(in);
    for (int c = 0; c < 8; ++c) {
      const int64_t v = descale(in[c], kConstBits + kPass1Bits + 3);
      in_range &= v >= -512 && v <= 511;
      out[r * stride + c] = range_limit(v);
    }
  }
  return in_range;
}

void upsample_h2v1_generic(const uint8_t* in, int in_w, int c0, int c1, uint8_t* out) {
  for (int c = c0; c < c1; ++c) out[c - c0] = upsample_h2v1_at(in, in_w, c);
}

void upsample_h2v2_generic(const uint8_t* near, const uint8_t* far, int in_w, int c0, int c1, uint8_t* out) {
  for (int c = c0; c < c1; ++c) out[c - c0] = upsample_h2v2_at(near, far, in_w, c);
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
  static const JpegPixels p{idct_generic, idct_each<idct_generic>, upsample_h2v1_generic, upsample_h2v2_generic,
                            ycc_rgb_generic};
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
    const Isa cap = isa_cap_from_env();
    if (cap >= Isa::avx512 && jpeg_pixels_have_avx512()) return &jpeg_pixels_avx512();
    return cap >= Isa::avx2 && jpeg_pixels_have_avx2() ? &jpeg_pixels_avx2() : &jpeg_pixels_generic();
  }();
  return *chosen;
}

}  // namespace ds
