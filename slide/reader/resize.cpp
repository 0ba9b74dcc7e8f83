// Separable area resampling: each output pixel averages the source interval it covers, with
// fractional weights at the interval ends.
#include "slide/reader/resize.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "base/error.h"

namespace ds {

namespace {

struct Tap {
  int first = 0;
  std::vector<float> w;
};

std::vector<Tap> area_taps(int in, int out) {
  std::vector<Tap> taps((size_t)out);
  const double scale = (double)in / out;
  for (int o = 0; o < out; ++o) {
    double a = o * scale, b = (o + 1) * scale;
    if (scale < 1.0) {  // upscaling: a one-source-pixel window centred on the output pixel
      double c = (o + 0.5) * scale - 0.5;
      a = c;
      b = c + 1.0;
      a = std::clamp(a, 0.0, (double)in - 1.0);
      b = std::clamp(b, 1.0, (double)in);
      if (b - a < 1e-9) a = b - 1.0;
    }
    int i0 = (int)std::floor(a), i1 = std::min(in, (int)std::ceil(b));
    Tap& t = taps[(size_t)o];
    t.first = i0;
    double total = 0;
    for (int i = i0; i < i1; ++i) {
      double w = std::min(b, (double)i + 1) - std::max(a, (double)i);
      t.w.push_back((float)std::max(0.0, w));
      total += std::max(0.0, w);
    }
    for (float& w : t.w) w = (float)(w / total);
  }
  return taps;
}

}  // namespace

RgbImage resize_area(const RgbImage& src, int out_w, int out_h) {
  DS_CHECK_INPUT(src.width > 0 && src.height > 0 && out_w > 0 && out_h > 0, "resize: empty image");
  if (src.width == out_w && src.height == out_h) return src;
  const auto tx = area_taps(src.width, out_w), ty = area_taps(src.height, out_h);
  std::vector<float> tmp((size_t)src.height * out_w * 3);  // horizontal pass
  for (int y = 0; y < src.height; ++y) {
    const uint8_t* s = src.row(y);
    float* d = tmp.data() + (size_t)y * out_w * 3;
    for (int x = 0; x < out_w; ++x) {
      float acc[3] = {0, 0, 0};
      const Tap& t = tx[(size_t)x];
      for (size_t k = 0; k < t.w.size(); ++k)
        for (int c = 0; c < 3; ++c) acc[c] += t.w[k] * s[3 * (t.first + (int)k) + c];
      for (int c = 0; c < 3; ++c) d[3 * x + c] = acc[c];
    }
  }
  RgbImage out(out_w, out_h);
  for (int y = 0; y < out_h; ++y) {
    const Tap& t = ty[(size_t)y];
    uint8_t* d = out.row(y);
    for (int x = 0; x < out_w * 3; ++x) {
      float acc = 0;
      for (size_t k = 0; k < t.w.size(); ++k) acc += t.w[k] * tmp[(size_t)(t.first + (int)k) * out_w * 3 + x];
      d[x] = (uint8_t)std::clamp((int)std::lround(acc), 0, 255);
    }
  }
  return out;
}

}  // namespace ds
