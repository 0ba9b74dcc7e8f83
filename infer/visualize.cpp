// Dots, probability heatmaps and legends (see visualize.h).
#include "infer/visualize.h"

#include <algorithm>
#include <cmath>

#include "infer/colormap.h"

namespace ds {

namespace {

// A thumbnail coordinate, rounded and clamped to [-1, limit + 1] before it becomes an int: the
// windows come from files (prediction CSVs, predict.json), and a double past INT_MAX converted
// to int is undefined behaviour.
int thumb_px(double v, int limit) { return (int)std::clamp(std::round(v), -1.0, (double)limit + 1.0); }

}  // namespace

RgbImage draw_dots(const RgbImage& thumb, double downsample, const SlidePredictions& p, int64_t window_side) {
  RgbImage out = thumb;
  const double half_dot = std::max(1.0, (double)window_side * 11.0 / 224.0 / downsample);
  for (const PatchPrediction& r : p.patches) {
    const double cx = ((double)r.x + (double)window_side / 2.0) / downsample;
    const double cy = ((double)r.y + (double)window_side / 2.0) / downsample;
    fill_rect(out, thumb_px(cx - half_dot, out.width), thumb_px(cy - half_dot, out.height),
              thumb_px(cx + half_dot, out.width), thumb_px(cy + half_dot, out.height),
              deepslide_class_color((size_t)r.prediction));
  }
  return out;
}

std::vector<float> probability_map(int width, int height, double downsample, const SlidePredictions& p,
                                   int64_t window_side, int k) {
  std::vector<double> sum((size_t)width * height, 0.0);
  std::vector<int> n((size_t)width * height, 0);
  for (const PatchPrediction& r : p.patches) {
    // Thumbnail pixels whose centres fall inside the window.
    const int x0 = std::max(0, thumb_px(std::ceil((double)r.x / downsample - 0.5), width));
    const int x1 = std::min(width, thumb_px(std::ceil(((double)r.x + (double)window_side) / downsample - 0.5), width));
    const int y0 = std::max(0, thumb_px(std::ceil((double)r.y / downsample - 0.5), height));
    const int y1 =
        std::min(height, thumb_px(std::ceil(((double)r.y + (double)window_side) / downsample - 0.5), height));
    for (int y = y0; y < y1; ++y)
      for (int x = x0; x < x1; ++x) {
        sum[(size_t)y * width + x] += r.probs[(size_t)k];
        n[(size_t)y * width + x]++;
      }
  }
  std::vector<float> m((size_t)width * height, -1.f);
  for (size_t i = 0; i < m.size(); ++i)
    if (n[i]) m[i] = (float)(sum[i] / n[i]);
  return m;
}

RgbImage draw_heatmap(const RgbImage& thumb, double downsample, const SlidePredictions& p, int64_t window_side, int k,
                      float alpha) {
  RgbImage out = thumb;
  std::vector<float> m = probability_map(thumb.width, thumb.height, downsample, p, window_side, k);
  for (int y = 0; y < out.height; ++y)
    for (int x = 0; x < out.width; ++x) {
      const float v = m[(size_t)y * out.width + x];
      if (v < 0) continue;
      blend_jet(out.row(y) + x * 3, v, alpha);
    }
  return out;
}

static RgbImage extend_below(const RgbImage& img, int extra, int min_width) {
  RgbImage out(std::max(img.width, min_width), img.height + extra, 255);
  for (int y = 0; y < img.height; ++y) std::copy(img.row(y), img.row(y) + img.width * 3, out.row(y));
  return out;
}

RgbImage with_class_legend(const RgbImage& img, const std::string& title, const std::vector<std::string>& classes) {
  int w = text_width(title) + 8;
  for (const auto& c : classes) w = std::max(w, 30 + text_width(c) + 8);
  const int line = 16;
  RgbImage out = extend_below(img, 8 + line * (int)(1 + classes.size()), w);
  int y = img.height + 4;
  draw_text(out, 4, y, title, {0, 0, 0});
  for (size_t k = 0; k < classes.size(); ++k) {
    y += line;
    fill_rect(out, 4, y - 1, 24, y + 11, {0, 0, 0});
    fill_rect(out, 5, y, 23, y + 10, deepslide_class_color(k));
    draw_text(out, 30, y, classes[k], {0, 0, 0});
  }
  return out;
}

RgbImage with_scale_legend(const RgbImage& img, const std::string& title) {
  const int bar_w = 200;
  RgbImage out = extend_below(img, 52, std::max(bar_w + 40, text_width(title) + 8));
  const int y = img.height + 4;
  draw_text(out, 4, y, title, {0, 0, 0});
  for (int x = 0; x < bar_w; ++x) fill_rect(out, 8 + x, y + 16, 9 + x, y + 30, jet((float)x / (bar_w - 1)));
  draw_text(out, 4, y + 34, "0", {0, 0, 0});
  draw_text(out, 8 + bar_w / 2 - text_width("0.5") / 2, y + 34, "0.5", {0, 0, 0});
  draw_text(out, 8 + bar_w - 4, y + 34, "1", {0, 0, 0});
  return out;
}

}  // namespace ds
