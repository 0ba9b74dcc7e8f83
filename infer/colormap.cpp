// Class colours, jet, rectangles and a tiny bitmap font (see colormap.h).
#include "infer/colormap.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>

namespace ds {

namespace {

struct Named {
  const char* name;
  Rgb rgb;
};
// DeepSlide's config.colors order and color_to_np_color values.
const Named kDeepSlide[] = {{"red", {255, 0, 0}},   {"white", {255, 255, 255}}, {"blue", {0, 0, 255}},
                            {"green", {0, 255, 0}}, {"purple", {225, 225, 0}},  {"orange", {255, 127, 80}},
                            {"black", {0, 0, 0}},   {"pink", {255, 108, 180}},  {"yellow", {255, 255, 0}}};

// 3x5 glyphs, one row per 3-bit group, most significant bit left.
struct Glyph {
  char ch;
  uint8_t rows[5];
};
const Glyph kFont[] = {{'0', {7, 5, 5, 5, 7}}, {'1', {2, 6, 2, 2, 7}}, {'2', {7, 1, 7, 4, 7}}, {'3', {7, 1, 7, 1, 7}},
                       {'4', {5, 5, 7, 1, 1}}, {'5', {7, 4, 7, 1, 7}}, {'6', {7, 4, 7, 5, 7}}, {'7', {7, 1, 1, 1, 1}},
                       {'8', {7, 5, 7, 5, 7}}, {'9', {7, 5, 7, 1, 7}}, {'.', {0, 0, 0, 0, 2}}, {'-', {0, 0, 7, 0, 0}},
                       {'_', {0, 0, 0, 0, 7}}, {':', {0, 2, 0, 2, 0}}, {'%', {5, 1, 2, 4, 5}}, {' ', {0, 0, 0, 0, 0}},
                       {'A', {2, 5, 7, 5, 5}}, {'B', {6, 5, 6, 5, 6}}, {'C', {3, 4, 4, 4, 3}}, {'D', {6, 5, 5, 5, 6}},
                       {'E', {7, 4, 6, 4, 7}}, {'F', {7, 4, 6, 4, 4}}, {'G', {3, 4, 5, 5, 3}}, {'H', {5, 5, 7, 5, 5}},
                       {'I', {7, 2, 2, 2, 7}}, {'J', {1, 1, 1, 5, 2}}, {'K', {5, 5, 6, 5, 5}}, {'L', {4, 4, 4, 4, 7}},
                       {'M', {5, 7, 7, 5, 5}}, {'N', {6, 5, 5, 5, 5}}, {'O', {2, 5, 5, 5, 2}}, {'P', {6, 5, 6, 4, 4}},
                       {'Q', {2, 5, 5, 6, 3}}, {'R', {6, 5, 6, 5, 5}}, {'S', {3, 4, 2, 1, 6}}, {'T', {7, 2, 2, 2, 2}},
                       {'U', {5, 5, 5, 5, 7}}, {'V', {5, 5, 5, 5, 2}}, {'W', {5, 5, 7, 7, 5}}, {'X', {5, 5, 2, 5, 5}},
                       {'Y', {5, 5, 2, 2, 2}}, {'Z', {7, 1, 2, 4, 7}}, {'(', {1, 2, 2, 2, 1}}, {')', {4, 2, 2, 2, 4}},
                       {'?', {7, 1, 2, 0, 2}}};

const Glyph& glyph(char ch) {
  ch = (char)std::toupper((unsigned char)ch);
  for (const Glyph& g : kFont)
    if (g.ch == ch) return g;
  return kFont[sizeof kFont / sizeof kFont[0] - 1];
}

}  // namespace

Rgb deepslide_class_color(size_t k) { return kDeepSlide[k % 9].rgb; }
const char* deepslide_class_color_name(size_t k) { return kDeepSlide[k % 9].name; }

Rgb jet(float v) {
  v = std::clamp(v, 0.f, 1.f);
  auto ch = [&](float center) {
    return (uint8_t)std::lround(255.f * std::clamp(1.5f - std::fabs(4.f * v - center), 0.f, 1.f));
  };
  return {ch(3.f), ch(2.f), ch(1.f)};
}

void blend_jet(uint8_t* p, float v, float alpha) {
  const Rgb c = jet(v);
  p[0] = (uint8_t)std::lround((1 - alpha) * p[0] + alpha * c.r);
  p[1] = (uint8_t)std::lround((1 - alpha) * p[1] + alpha * c.g);
  p[2] = (uint8_t)std::lround((1 - alpha) * p[2] + alpha * c.b);
}

void fill_rect(RgbImage& img, int x0, int y0, int x1, int y1, Rgb c) {
  x0 = std::max(x0, 0);
  y0 = std::max(y0, 0);
  x1 = std::min(x1, img.width);
  y1 = std::min(y1, img.height);
  for (int y = y0; y < y1; ++y)
    for (int x = x0; x < x1; ++x) {
      uint8_t* p = img.row(y) + x * 3;
      p[0] = c.r;
      p[1] = c.g;
      p[2] = c.b;
    }
}

int text_width(const std::string& text, int scale) { return (int)text.size() * 4 * scale; }

int draw_text(RgbImage& img, int x, int y, const std::string& text, Rgb c, int scale) {
  int cx = x;
  for (char ch : text) {
    const Glyph& g = glyph(ch);
    for (int r = 0; r < 5; ++r)
      for (int b = 0; b < 3; ++b)
        if (g.rows[r] & (4 >> b))
          fill_rect(img, cx + b * scale, y + r * scale, cx + (b + 1) * scale, y + (r + 1) * scale, c);
    cx += 4 * scale;
  }
  return cx - x;
}

}  // namespace ds
