// Colours for pictures: DeepSlide's class colours (config.colors, in sorted class order, with its
// values from utils_evaluation.color_to_np_color, including its yellow-ish "purple"), the jet
// colour map for probabilities and Grad-CAM, and a 3x5 pixel font for legends.
#pragma once
#include <cstdint>
#include <string>

#include "slide/reader/image_io.h"

namespace ds {

struct Rgb {
  uint8_t r = 0, g = 0, b = 0;
};

Rgb deepslide_class_color(size_t k);  // cycles after DeepSlide's nine colours
const char* deepslide_class_color_name(size_t k);
Rgb jet(float v);  // v in [0, 1] -> blue .. cyan .. yellow .. red
// p (one RGB pixel) = (1 - alpha) * p + alpha * jet(v), rounded.
void blend_jet(uint8_t* p, float v, float alpha);

void fill_rect(RgbImage& img, int x0, int y0, int x1, int y1, Rgb c);  // [x0, x1) x [y0, y1), clipped
// Draws text (letters, digits, . - _ : % ( ) and space; letters upper-cased) with its top-left at
// (x, y), each font pixel a scale x scale square. Returns the width drawn.
int draw_text(RgbImage& img, int x, int y, const std::string& text, Rgb c, int scale = 2);
int text_width(const std::string& text, int scale = 2);

}  // namespace ds
