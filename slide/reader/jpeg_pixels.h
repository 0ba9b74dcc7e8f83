// The per-pixel stages of the baseline JPEG decoder (jpeg_fast_decode.h): inverse DCT, chroma
// upsampling and YCbCr -> RGB, each computing exactly what libjpeg-turbo computes with its
// defaults (the accurate integer IDCT jidctint.c, "fancy" h2v1 and h2v2 upsampling jdsample.c, the table
// conversion jdcolor.c), so the pixels equal OpenSlide's bit for bit. Two instances: the plain
// loops (jpeg_pixels_generic.cpp, libjpeg's C arithmetic; the reference), AVX2
// (jpeg_pixels_avx2.cpp) and AVX-512 (jpeg_pixels_avx512.cpp: AVX2's with a two-block IDCT),
// chosen at run time as engine/ chooses its kernels: the widest the CPU has, capped by
// DEEPSLIDE_ISA (avx2: no AVX-512; scalar or ref: the plain loops).
#pragma once
#include <cstddef>
#include <cstdint>

namespace ds {

struct JpegPixels {
  // One 8x8 block: coefficients in natural (row-major) order times the quantization table (as
  // libjpeg's 16-bit multipliers), inverse DCT, +128 and libjpeg's range limit, into 8 rows of
  // 8 bytes `stride` apart. Returns false when the block leaves the range in which every libjpeg
  // build computes the same pixels (its C code in 64 bits, its SIMD code in 16-bit lanes):
  // dequantized coefficients and first-pass values within -2^14..2^14-1 (the sum of two fits 16
  // bits), results within -512..511 before the +128. Blocks of real images stay far inside; corrupt data may not.
  bool (*idct)(const int16_t* coef, const int16_t* quant, uint8_t* out, size_t stride);
  // Two blocks at once (the AVX-512 instance fills a 16-lane vector with them; the others call
  // idct twice): the same pixels and the same answer as two idct calls.
  bool (*idct2)(const int16_t* coef_a, const int16_t* quant_a, uint8_t* out_a, size_t stride_a, const int16_t* coef_b,
                const int16_t* quant_b, uint8_t* out_b, size_t stride_b);
  // h2v1 fancy upsampling of one row of in_w > 2 chroma samples: output columns [c0, c1) of the
  // doubled row (3/4 of the nearer sample + 1/4 of the further, the ends replicated) into out.
  void (*upsample_h2v1)(const uint8_t* in, int in_w, int c0, int c1, uint8_t* out);
  // h2v2 fancy upsampling of one output row: `near` is the chroma row the output row lies in,
  // `far` the row above it (an output row's upper half) or below (lower half), the image's first
  // or last row itself at its top or bottom; each column 3/4 near + 1/4 far, then as h2v1 across
  // (jdsample.c's h2v2_fancy_upsample, its rounding: +8 on even columns, +7 on odd ones, >> 4).
  void (*upsample_h2v2)(const uint8_t* near, const uint8_t* far, int in_w, int c0, int c1, uint8_t* out);
  // n pixels of full-resolution Y, Cb, Cr planes to interleaved RGB.
  void (*ycc_rgb)(const uint8_t* y, const uint8_t* cb, const uint8_t* cr, uint8_t* rgb, int n);
};

// Output column c of h2v1 fancy upsampling (see upsample_h2v1): the plain loop's, and the
// vector instances' at the row's ends.
inline uint8_t upsample_h2v1_at(const uint8_t* in, int in_w, int c) {
  const int i = c >> 1, v = in[i] * 3;
  if (c & 1) return i == in_w - 1 ? in[i] : (uint8_t)((v + in[i + 1] + 2) >> 2);
  return i == 0 ? in[i] : (uint8_t)((v + in[i - 1] + 1) >> 2);
}

// Output column c of h2v2 fancy upsampling (see upsample_h2v2).
inline uint8_t upsample_h2v2_at(const uint8_t* near, const uint8_t* far, int in_w, int c) {
  const int i = c >> 1, odd = c & 1;
  const int j = odd ? (i + 1 < in_w ? i + 1 : i) : (i > 0 ? i - 1 : 0);
  const int here = near[i] * 3 + far[i], there = near[j] * 3 + far[j];
  return (uint8_t)((here * 3 + there + 8 - odd) >> 4);
}

// idct2 for an instance without a two-block IDCT: its idct on each block.
template <bool (*Idct)(const int16_t*, const int16_t*, uint8_t*, size_t)>
bool idct_each(const int16_t* coef_a, const int16_t* quant_a, uint8_t* out_a, size_t stride_a, const int16_t* coef_b,
               const int16_t* quant_b, uint8_t* out_b, size_t stride_b) {
  const bool a = Idct(coef_a, quant_a, out_a, stride_a);
  return Idct(coef_b, quant_b, out_b, stride_b) && a;
}

// The instance for this CPU and DEEPSLIDE_ISA (chosen once), or the one forced.
const JpegPixels& jpeg_pixels();
void force_jpeg_pixels(const JpegPixels* pixels);  // tests: one instance; nullptr: the CPU's choice
const JpegPixels& jpeg_pixels_generic();
const JpegPixels& jpeg_pixels_avx2();    // call only where jpeg_pixels_have_avx2()
const JpegPixels& jpeg_pixels_avx512();  // call only where jpeg_pixels_have_avx512()
bool jpeg_pixels_have_avx2();
bool jpeg_pixels_have_avx512();  // AVX-512 F, BW, DQ and VL

}  // namespace ds
