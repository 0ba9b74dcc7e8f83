// Sub-pixel tile painting as cairo 1.16 and pixman 0.42 do it for OpenSlide (see subpixel_paint.h).
// For canvas pixel i pixman samples the source at i + 1/2 - x and, for the bilinear filter, takes
// the pixel pair left of and right of i - x with the weight of the right one the fraction of
// i - x cut to 7 bits; likewise down. Premultiplied channels are interpolated with weights that
// sum to 65536 and truncated; SATURATE scales the source by what transparency is left (rounded
// 8-bit division and multiplication) and adds.
#include "slide/reader/subpixel_paint.h"

#include <algorithm>
#include <cmath>

namespace ds {

namespace {

constexpr int64_t kOne = 1 << 16;  // 1.0 in 16.16

int64_t floor_div_one(int64_t v) { return v >> 16; }  // arithmetic shift: floor

// Source column (row) left of (above) canvas pixel i's sample, and the right (lower) one's weight
// in 1/128ths, as pixman_fixed_to_bilinear_weight gives it.
struct Tap {
  int64_t first;
  int weight;
};
Tap tap(int64_t i, int64_t f) {
  const int64_t u = i * kOne - f;
  return Tap{floor_div_one(u), (int)((u >> 9) & 0x7f)};
}

// The canvas pixels [lo, hi) whose samples reach the tile's [0, valid) source pixels.
void reach(int64_t f, int valid, int size, int& lo, int& hi) {
  // Pixel i reads source pixels first(i) and first(i) + 1; it reaches the tile when
  // -1 <= first(i) <= valid - 1.
  const int64_t start = floor_div_one(f) - 1, end = floor_div_one(f) + valid + 1;
  lo = (int)std::clamp<int64_t>(start, 0, size);
  hi = (int)std::clamp<int64_t>(end + 1, 0, size);
  while (lo < hi && tap(lo, f).first < -1) ++lo;
  while (hi > lo && tap(hi - 1, f).first > valid - 1) --hi;
}

uint8_t mul_un8(uint32_t x, uint32_t a) {
  const uint32_t t = x * a + 0x80;
  return (uint8_t)(((t >> 8) + t) >> 8);
}

// pixman's SATURATE of premultiplied source s onto d: s scaled down to the room d leaves, added.
void saturate(uint8_t* d, uint32_t s[4]) {
  const uint32_t room = 255 - d[3];
  if (s[3] > room) {
    const uint32_t f = (room * 255 + s[3] / 2) / s[3];
    for (int c = 0; c < 4; ++c) s[c] = mul_un8(s[c], f);
  }
  for (int c = 0; c < 4; ++c) d[c] = (uint8_t)std::min<uint32_t>(255, d[c] + s[c]);
}

}  // namespace

void SaturateCanvas::reset(int w, int h) {
  width = w;
  height = h;
  rgba.assign((size_t)w * h * 4, 0);
}

SubpixelPlacement place_at(double x, double y) {
  // cairo converts its matrix to pixman's fixed point by rounding.
  return SubpixelPlacement{(int64_t)std::nearbyint(x * (double)kOne), (int64_t)std::nearbyint(y * (double)kOne)};
}

SampleRect sampled_rect(const SaturateCanvas& canvas, SubpixelPlacement at, int valid_w, int valid_h) {
  int i0, i1, j0, j1;
  reach(at.fx, valid_w, canvas.width, i0, i1);
  reach(at.fy, valid_h, canvas.height, j0, j1);
  if (i0 >= i1 || j0 >= j1 || valid_w <= 0 || valid_h <= 0) return SampleRect{};
  SampleRect r;
  r.x0 = (int)std::max<int64_t>(tap(i0, at.fx).first, 0);
  r.x1 = (int)std::min<int64_t>(tap(i1 - 1, at.fx).first + 2, valid_w);
  r.y0 = (int)std::max<int64_t>(tap(j0, at.fy).first, 0);
  r.y1 = (int)std::min<int64_t>(tap(j1 - 1, at.fy).first + 2, valid_h);
  return r;
}

void paint_saturate(SaturateCanvas& canvas, SubpixelPlacement at, int valid_w, int valid_h, const SampleRect& part,
                    const uint8_t* pixels, size_t stride) {
  int i0, i1, j0, j1;
  reach(at.fx, valid_w, canvas.width, i0, i1);
  reach(at.fy, valid_h, canvas.height, j0, j1);
  // A translation samples every pixel at the same fraction: one set of weights, and canvas pixel
  // (i, j) reads source pixels (i + cx, j + cy) and their right and lower neighbours.
  const Tap tx = tap(0, at.fx), ty = tap(0, at.fy);
  const int64_t cx = tx.first, cy = ty.first;
  const uint32_t dx = (uint32_t)tx.weight << 1, dy = (uint32_t)ty.weight << 1;
  const uint32_t w_br = dx * dy, w_tr = dx * (256 - dy), w_bl = (256 - dx) * dy, w_tl = (256 - dx) * (256 - dy);
  // A source pixel: opaque RGB inside the part, transparent outside it.
  auto source = [&](int64_t x, int64_t y, uint32_t c[4]) {
    if (x < part.x0 || x >= part.x1 || y < part.y0 || y >= part.y1) {
      c[0] = c[1] = c[2] = c[3] = 0;
      return;
    }
    const uint8_t* p = pixels + (size_t)(y - part.y0) * stride + (size_t)(x - part.x0) * 3;
    c[0] = p[0], c[1] = p[1], c[2] = p[2], c[3] = 255;
  };
  // Any pixel, the tile's edges among them.
  auto paint = [&](uint8_t* d, int64_t x, int64_t y) {
    uint32_t tl[4], tr[4], bl[4], br[4], s[4];
    source(x, y, tl);
    source(x + 1, y, tr);
    source(x, y + 1, bl);
    source(x + 1, y + 1, br);
    for (int c = 0; c < 4; ++c) s[c] = (tl[c] * w_tl + tr[c] * w_tr + bl[c] * w_bl + br[c] * w_br) >> 16;
    saturate(d, s);
  };
  // Columns whose four source pixels are all inside the part.
  const int in0 = (int)std::clamp<int64_t>(part.x0 - cx, i0, i1),
            in1 = (int)std::clamp<int64_t>(part.x1 - 1 - cx, in0, i1);
  for (int j = j0; j < j1; ++j) {
    uint8_t* row = canvas.rgba.data() + (size_t)j * canvas.width * 4;
    const int64_t y = j + cy;
    const bool inside = y >= part.y0 && y + 1 < part.y1;
    const int a = inside ? in0 : i1, b = inside ? in1 : i1;
    for (int i = i0; i < a; ++i)
      if (row[(size_t)i * 4 + 3] != 255) paint(row + (size_t)i * 4, i + cx, y);
    for (int i = b; i < i1; ++i)
      if (row[(size_t)i * 4 + 3] != 255) paint(row + (size_t)i * 4, i + cx, y);
    if (a >= b) continue;
    const uint8_t* top = pixels + (size_t)(y - part.y0) * stride;
    if (dx == 0 && dy == 0) {  // a whole-pixel placement: each pixel is its source pixel
      const uint8_t* t = top + (size_t)(a + cx - part.x0) * 3;
      uint8_t* d = row + (size_t)a * 4;
      for (int i = a; i < b; ++i, t += 3, d += 4) {
        if (d[3] == 0) {
          d[0] = t[0], d[1] = t[1], d[2] = t[2], d[3] = 255;
        } else if (d[3] != 255) {
          uint32_t s[4] = {t[0], t[1], t[2], 255};
          saturate(d, s);
        }
      }
      continue;
    }
    const uint8_t* bot = top + stride;
    for (int i = a; i < b; ++i) {
      uint8_t* d = row + (size_t)i * 4;
      if (d[3] == 255) continue;  // SATURATE adds nothing to an opaque pixel
      const size_t at_x = (size_t)(i + cx - part.x0) * 3;
      const uint8_t *t = top + at_x, *u = bot + at_x;
      uint32_t s[4] = {0, 0, 0, 255};  // opaque taps: alpha 255 * 65536 >> 16
      for (int c = 0; c < 3; ++c) s[c] = (t[c] * w_tl + t[c + 3] * w_tr + u[c] * w_bl + u[c + 3] * w_br) >> 16;
      if (d[3] == 0) {
        d[0] = (uint8_t)s[0], d[1] = (uint8_t)s[1], d[2] = (uint8_t)s[2], d[3] = 255;
        continue;
      }
      saturate(d, s);
    }
  }
}

void paint_saturate_rgba(SaturateCanvas& canvas, SubpixelPlacement at, const SaturateCanvas& picture) {
  int i0, i1, j0, j1;
  reach(at.fx, picture.width, canvas.width, i0, i1);
  reach(at.fy, picture.height, canvas.height, j0, j1);
  const Tap tx = tap(0, at.fx), ty = tap(0, at.fy);
  const int64_t cx = tx.first, cy = ty.first;
  const uint32_t dx = (uint32_t)tx.weight << 1, dy = (uint32_t)ty.weight << 1;
  const uint32_t w_br = dx * dy, w_tr = dx * (256 - dy), w_bl = (256 - dx) * dy, w_tl = (256 - dx) * (256 - dy);
  auto px = [&](int64_t x, int64_t y, int c) -> uint32_t {
    if (x < 0 || x >= picture.width || y < 0 || y >= picture.height) return 0;
    return picture.rgba[((size_t)y * picture.width + (size_t)x) * 4 + (size_t)c];
  };
  for (int j = j0; j < j1; ++j)
    for (int i = i0; i < i1; ++i) {
      uint8_t* d = canvas.rgba.data() + ((size_t)j * canvas.width + (size_t)i) * 4;
      if (d[3] == 255) continue;
      const int64_t x = i + cx, y = j + cy;
      uint32_t s[4];
      for (int c = 0; c < 4; ++c)
        s[c] =
            (px(x, y, c) * w_tl + px(x + 1, y, c) * w_tr + px(x, y + 1, c) * w_bl + px(x + 1, y + 1, c) * w_br) >> 16;
      saturate(d, s);
    }
}

void flatten_over_white(const SaturateCanvas& canvas, uint8_t* out, size_t stride) {
  for (int j = 0; j < canvas.height; ++j) {
    const uint8_t* s = canvas.rgba.data() + (size_t)j * canvas.width * 4;
    uint8_t* o = out + (size_t)j * stride;
    for (int i = 0; i < canvas.width; ++i, s += 4, o += 3) {
      const uint8_t clear = (uint8_t)(255 - s[3]);  // premultiplied: c + (1 - a) * white
      o[0] = (uint8_t)(s[0] + clear);
      o[1] = (uint8_t)(s[1] + clear);
      o[2] = (uint8_t)(s[2] + clear);
    }
  }
}

}  // namespace ds
