// Pillow-exact colour adjustments, flips and quarter-turn rotations.
#include "train/augment.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "base/error.h"

namespace ds {

namespace {

// Pillow's ImagingBlend: out = in1 + alpha * (in2 - in1) in float; truncated; clipped only when
// alpha is outside [0, 1].
inline uint8_t blend(int in1, int in2, float alpha) {
  if (alpha >= 0 && alpha <= 1.0f) return (uint8_t)((float)in1 + alpha * (float)(in2 - in1));
  float t = (float)((float)in1 + alpha * (float)(in2 - in1));
  if (t <= 0.0f) return 0;
  if (t >= 255.0f) return 255;
  return (uint8_t)t;
}

// Pillow's RGB -> L: fixed-point ITU-R 601-2 luma.
inline int luma(const uint8_t* p) { return (p[0] * 19595 + p[1] * 38470 + p[2] * 7471 + 0x8000) >> 16; }

inline uint8_t clip8(int v) { return (uint8_t)std::clamp(v, 0, 255); }

void rgb_to_hsv(const uint8_t* in, uint8_t* out) {
  const uint8_t r = in[0], g = in[1], b = in[2];
  const uint8_t maxc = std::max(r, std::max(g, b)), minc = std::min(r, std::min(g, b));
  if (minc == maxc) {
    out[0] = 0;
    out[1] = 0;
    out[2] = maxc;
    return;
  }
  const float cr = (float)(maxc - minc);
  const float s = cr / (float)maxc;
  const float rc = (float)(maxc - r) / cr, gc = (float)(maxc - g) / cr, bc = (float)(maxc - b) / cr;
  float h;
  if (r == maxc) h = bc - gc;
  else if (g == maxc) h = (float)(2.0 + rc - bc);
  else h = (float)(4.0 + gc - rc);
  h = (float)std::fmod((h / 6.0 + 1.0), 1.0);
  out[0] = clip8((int)(h * 255.0));
  out[1] = clip8((int)(s * 255.0));
  out[2] = maxc;
}

void hsv_to_rgb(const uint8_t* in, uint8_t* out) {
  const uint8_t h = in[0], s = in[1], v = in[2];
  if (s == 0) {
    out[0] = out[1] = out[2] = v;
    return;
  }
  const int i = (int)std::floor((float)h * 6.0 / 255.0);
  const float f = (float)((float)h * 6.0 / 255.0 - (float)i);
  const float fs = (float)(((float)s) / 255.0);
  const uint8_t up = clip8((int)std::round((float)v * (1.0 - fs)));
  const uint8_t uq = clip8((int)std::round((float)v * (1.0 - fs * f)));
  const uint8_t ut = clip8((int)std::round((float)v * (1.0 - fs * (1.0 - f))));
  switch (i % 6) {
    case 0:
      out[0] = v;
      out[1] = ut;
      out[2] = up;
      break;
    case 1:
      out[0] = uq;
      out[1] = v;
      out[2] = up;
      break;
    case 2:
      out[0] = up;
      out[1] = v;
      out[2] = ut;
      break;
    case 3:
      out[0] = up;
      out[1] = uq;
      out[2] = v;
      break;
    case 4:
      out[0] = ut;
      out[1] = up;
      out[2] = v;
      break;
    default:
      out[0] = v;
      out[1] = up;
      out[2] = uq;
      break;
  }
}

}  // namespace

void adjust_brightness(RgbImage& img, float factor) {
  for (uint8_t& p : img.pixels) p = blend(0, p, factor);
}

void adjust_contrast(RgbImage& img, float factor) {
  // Degenerate image: the mean grey level, int(mean + 0.5), as ImageEnhance.Contrast.
  double sum = 0;
  const size_t n = (size_t)img.width * img.height;
  for (size_t i = 0; i < n; ++i) sum += luma(&img.pixels[i * 3]);
  const int mean = n ? (int)(sum / (double)n + 0.5) : 0;
  for (uint8_t& p : img.pixels) p = blend(mean, p, factor);
}

void adjust_saturation(RgbImage& img, float factor) {
  const size_t n = (size_t)img.width * img.height;
  for (size_t i = 0; i < n; ++i) {
    uint8_t* p = &img.pixels[i * 3];
    const int l = luma(p);
    for (int c = 0; c < 3; ++c) p[c] = blend(l, p[c], factor);
  }
}

void adjust_hue(RgbImage& img, float hue_factor) {
  DS_CHECK_INPUT(hue_factor >= -0.5f && hue_factor <= 0.5f, "hue factor must be in [-0.5, 0.5]");
  // np.uint8(hue_factor * 255): truncation toward zero, then wrap-around modulo 256.
  const uint8_t shift = (uint8_t)(int64_t)(hue_factor * 255.0);
  const size_t n = (size_t)img.width * img.height;
  for (size_t i = 0; i < n; ++i) {
    uint8_t* p = &img.pixels[i * 3];
    uint8_t hsv[3];
    rgb_to_hsv(p, hsv);
    hsv[0] = (uint8_t)(hsv[0] + shift);
    hsv_to_rgb(hsv, p);
  }
}

void flip_horizontal(RgbImage& img) {
  for (int y = 0; y < img.height; ++y) {
    uint8_t* r = img.row(y);
    for (int a = 0, b = img.width - 1; a < b; ++a, --b)
      for (int c = 0; c < 3; ++c) std::swap(r[3 * a + c], r[3 * b + c]);
  }
}

void flip_vertical(RgbImage& img) {
  for (int a = 0, b = img.height - 1; a < b; ++a, --b)
    std::swap_ranges(img.row(a), img.row(a) + (size_t)img.width * 3, img.row(b));
}

void rotate90(RgbImage& img, int k) {
  k = ((k % 4) + 4) % 4;
  if (k == 0) return;
  if (k == 2) {
    flip_horizontal(img);
    flip_vertical(img);
    return;
  }
  RgbImage out(img.height, img.width);
  for (int y = 0; y < img.height; ++y)
    for (int x = 0; x < img.width; ++x) {
      // Counter-clockwise 90: (x, y) -> (y, W-1-x); clockwise (270 ccw): (x, y) -> (H-1-y, x).
      const int ox = k == 1 ? y : img.height - 1 - y;
      const int oy = k == 1 ? img.width - 1 - x : x;
      for (int c = 0; c < 3; ++c) out.row(oy)[3 * ox + c] = img.row(y)[3 * x + c];
    }
  img = std::move(out);
}

void augment(RgbImage& img, const AugmentOptions& opt, Rng& rng) {
  // ColorJitter.get_params: a random order of the four adjustments, then each factor.
  int order[4] = {0, 1, 2, 3};
  for (int i = 3; i > 0; --i) std::swap(order[i], order[rng.uniform_int((uint64_t)i + 1)]);
  auto range = [&](float v) { return rng.uniform(std::max(0.0f, 1 - v), 1 + v); };
  const float b = opt.brightness > 0 ? range(opt.brightness) : 1.0f;
  const float c = opt.contrast > 0 ? range(opt.contrast) : 1.0f;
  const float s = opt.saturation > 0 ? range(opt.saturation) : 1.0f;
  const float h = opt.hue > 0 ? rng.uniform(-opt.hue, opt.hue) : 0.0f;
  for (int fn : order) {
    if (fn == 0 && opt.brightness > 0) adjust_brightness(img, b);
    if (fn == 1 && opt.contrast > 0) adjust_contrast(img, c);
    if (fn == 2 && opt.saturation > 0) adjust_saturation(img, s);
    if (fn == 3 && opt.hue > 0) adjust_hue(img, h);
  }
  if (opt.flips) {
    if (rng.uniform() < 0.5) flip_horizontal(img);
    if (rng.uniform() < 0.5) flip_vertical(img);
  }
  if (opt.rot90) rotate90(img, (int)rng.uniform_int(4));
}

}  // namespace ds
