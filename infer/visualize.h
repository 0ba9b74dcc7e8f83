// Stage 6 pictures on a slide thumbnail (never level 0 of a big slide): DeepSlide's coloured dots
// (a square of 22/224 of the window's side, centred on each window, in its class colour) and per
// class probability heatmaps (each thumbnail pixel the mean probability of the windows covering
// it, jet colours blended over the tissue) with a legend strip under the picture.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "infer/prediction_csv.h"
#include "slide/reader/image_io.h"

namespace ds {

// downsample: level-0 pixels per thumbnail pixel; window_side: window side in level-0 pixels.
RgbImage draw_dots(const RgbImage& thumb, double downsample, const SlidePredictions& p, int64_t window_side);

// Mean probability of class k over the windows covering each thumbnail pixel; -1 where no window.
std::vector<float> probability_map(int width, int height, double downsample, const SlidePredictions& p,
                                   int64_t window_side, int k);

RgbImage draw_heatmap(const RgbImage& thumb, double downsample, const SlidePredictions& p, int64_t window_side, int k,
                      float alpha = 0.5f);

// Appends a legend strip below `img`: a title line and either a class colour key or a 0..1 bar.
RgbImage with_class_legend(const RgbImage& img, const std::string& title, const std::vector<std::string>& classes);
RgbImage with_scale_legend(const RgbImage& img, const std::string& title);

}  // namespace ds
