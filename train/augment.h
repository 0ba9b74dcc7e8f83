// Training augmentation with torchvision's semantics on 8-bit images, as DeepSlide applies it to
// PIL images: ColorJitter(brightness, contrast, saturation, hue) with the four adjustments in a
// random order and factors drawn uniformly (brightness/contrast/saturation in
// [max(0, 1 - v), 1 + v], hue in [-h, h]), then RandomHorizontalFlip, RandomVerticalFlip (p = 0.5
// each) and a random rotation by 0/90/180/270 degrees. Each adjustment reproduces Pillow's
// arithmetic (ImageEnhance blends in single precision with truncation, ITU-R 601 grey with
// Pillow's fixed-point weights, Pillow's RGB<->HSV with a uint8 hue shift), so outputs match
// torchvision.transforms.functional on PIL images bit for bit.
#pragma once
#include "base/rng.h"
#include "slide/reader/image_io.h"

namespace ds {

struct AugmentOptions {
  float brightness = 0.5f, contrast = 0.5f, saturation = 0.5f, hue = 0.2f;  // DeepSlide's
  bool flips = true;
  bool rot90 = true;
};

void adjust_brightness(RgbImage& img, float factor);
void adjust_contrast(RgbImage& img, float factor);
void adjust_saturation(RgbImage& img, float factor);
void adjust_hue(RgbImage& img, float hue_factor);  // hue_factor in [-0.5, 0.5]
void flip_horizontal(RgbImage& img);
void flip_vertical(RgbImage& img);
void rotate90(RgbImage& img, int quarter_turns);  // counter-clockwise, as PIL's rotate(90 * k)

// Applies the whole DeepSlide training augmentation in place, drawing from rng.
void augment(RgbImage& img, const AugmentOptions& opt, Rng& rng);

}  // namespace ds
