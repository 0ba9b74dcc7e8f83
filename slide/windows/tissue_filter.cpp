// DeepSlide's purple filter and a CLAM-style Otsu saturation mask.
#include "slide/windows/tissue_filter.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "base/error.h"

namespace ds {

int purple_block_count(const uint8_t* rgb, int width, int height, int64_t stride, int scale) {
  DS_CHECK_INPUT(scale > 0, "purple filter: scale must be positive, got " + std::to_string(scale));
  const int bh = height / scale, bw = width / scale;
  if (bh <= 0 || bw <= 0)
    throw InputError("purple filter: patch " + std::to_string(width) + "x" + std::to_string(height) +
                     " is smaller than the scale " + std::to_string(scale));
  const int nby = (height + bh - 1) / bh, nbx = (width + bw - 1) / bw;
  const double area = (double)bh * bw;  // zero padding counts in the average, as block_reduce
  std::vector<double> sums((size_t)nbx * 3);
  int count = 0;
  for (int by = 0; by < nby; ++by) {
    std::fill(sums.begin(), sums.end(), 0.0);
    const int y1 = std::min(height, (by + 1) * bh);
    for (int y = by * bh; y < y1; ++y) {
      const uint8_t* row = rgb + (int64_t)y * stride;
      for (int x = 0; x < width; ++x) {
        double* s = &sums[(size_t)(x / bw) * 3];
        s[0] += row[3 * x];
        s[1] += row[3 * x + 1];
        s[2] += row[3 * x + 2];
      }
    }
    for (int bx = 0; bx < nbx; ++bx) {
      const double r = sums[bx * 3] / area, g = sums[bx * 3 + 1] / area, b = sums[bx * 3 + 2] / area;
      if (r > g - 10 && b > g - 10 && (r + b) / 2 > g + 20) ++count;
    }
  }
  return count;
}

bool is_purple(const RgbImage& patch, const PurpleParams& params) {
  return purple_block_count(patch.pixels.data(), patch.width, patch.height, (int64_t)patch.width * 3, params.scale) >
         params.threshold;
}

void RgbIntegral::build(const RgbImage& img) {
  width = img.width;
  height = img.height;
  DS_CHECK((int64_t)width * height <= (int64_t)1 << 24, "RgbIntegral: image too large for 32-bit sums");
  sums.resize((size_t)(width + 1) * (height + 1) * 3);
  std::fill(sums.begin(), sums.begin() + (size_t)(width + 1) * 3, 0u);  // row 0; column 0 below
  for (int y = 0; y < height; ++y) {
    const uint8_t* row = img.pixels.data() + (size_t)y * width * 3;
    const uint32_t* above = &sums[(size_t)y * (width + 1) * 3];
    uint32_t* out = &sums[(size_t)(y + 1) * (width + 1) * 3];
    out[0] = out[1] = out[2] = 0;
    uint32_t run[3] = {0, 0, 0};
    for (int x = 0; x < width; ++x)
      for (int c = 0; c < 3; ++c) {
        run[c] += row[3 * x + c];
        out[3 * (x + 1) + c] = above[3 * (x + 1) + c] + run[c];
      }
  }
}

int purple_block_count(const RgbIntegral& t, int x, int y, int side, int scale) {
  DS_CHECK_INPUT(scale > 0, "purple filter: scale must be positive, got " + std::to_string(scale));
  const int bs = side / scale;
  if (bs <= 0)
    throw InputError("purple filter: patch " + std::to_string(side) + "x" + std::to_string(side) +
                     " is smaller than the scale " + std::to_string(scale));
  DS_CHECK(x >= 0 && y >= 0 && x + side <= t.width && y + side <= t.height, "purple window outside its image");
  const int nb = (side + bs - 1) / bs;
  const double area = (double)bs * bs;  // zero padding counts in the average, as above
  int count = 0;
  for (int by = 0; by < nb; ++by) {
    const int y0 = y + by * bs, y1 = y + std::min(side, (by + 1) * bs);
    for (int bx = 0; bx < nb; ++bx) {
      const int x0 = x + bx * bs, x1 = x + std::min(side, (bx + 1) * bs);
      double m[3];
      for (int c = 0; c < 3; ++c)
        m[c] = (double)(t.at(x1, y1, c) - t.at(x0, y1, c) - t.at(x1, y0, c) + t.at(x0, y0, c)) / area;
      if (m[0] > m[1] - 10 && m[2] > m[1] - 10 && (m[0] + m[2]) / 2 > m[1] + 20) ++count;
    }
  }
  return count;
}

double TissueMask::tissue_fraction(int64_t x, int64_t y, int64_t w, int64_t h) const {
  if (width <= 0 || height <= 0 || w <= 0 || h <= 0) return 0.0;
  int64_t x0 = (int64_t)std::floor(x / downsample), y0 = (int64_t)std::floor(y / downsample);
  int64_t x1 = (int64_t)std::ceil((x + w) / downsample), y1 = (int64_t)std::ceil((y + h) / downsample);
  int64_t total = std::max<int64_t>(1, (x1 - x0) * (y1 - y0));
  x0 = std::max<int64_t>(0, x0);
  y0 = std::max<int64_t>(0, y0);
  x1 = std::min<int64_t>(width, x1);
  y1 = std::min<int64_t>(height, y1);
  int64_t n = 0;
  for (int64_t yy = y0; yy < y1; ++yy)
    for (int64_t xx = x0; xx < x1; ++xx) n += on[(size_t)yy * width + xx];
  return (double)n / (double)total;
}

int otsu_threshold(const std::vector<int64_t>& hist) {
  // Same recurrence as OpenCV's getThreshVal_Otsu_8u so that ties resolve the same way.
  DS_CHECK(hist.size() == 256, "otsu: histogram must have 256 bins");
  double total = 0, mu = 0;
  for (int i = 0; i < 256; ++i) total += (double)hist[i];
  if (total <= 0) return 0;
  const double scale = 1.0 / total;
  for (int i = 0; i < 256; ++i) mu += i * ((double)hist[i] * scale);
  double mu1 = 0, q1 = 0, max_sigma = 0;
  int max_val = 0;
  const double eps = 1.1920928955078125e-07;  // FLT_EPSILON
  for (int i = 0; i < 256; ++i) {
    const double p_i = (double)hist[i] * scale;
    mu1 *= q1;
    q1 += p_i;
    const double q2 = 1.0 - q1;
    if (std::min(q1, q2) < eps || std::max(q1, q2) > 1.0 - eps) continue;
    mu1 = (mu1 + i * p_i) / q1;
    const double mu2 = (mu - q1 * mu1) / q2;
    const double sigma = q1 * q2 * (mu1 - mu2) * (mu1 - mu2);
    if (sigma > max_sigma) {
      max_sigma = sigma;
      max_val = i;
    }
  }
  return max_val;
}

std::vector<uint8_t> hsv_saturation(const RgbImage& img) {
  std::vector<uint8_t> sat((size_t)img.width * img.height);
  for (size_t i = 0; i < sat.size(); ++i) {
    const uint8_t* p = &img.pixels[i * 3];
    const int mx = std::max({p[0], p[1], p[2]}), mn = std::min({p[0], p[1], p[2]});
    // OpenCV's 8-bit RGB->HSV saturation: fixed point with a 12-bit shift and a rounded
    // reciprocal table, so masks match cv2 exactly.
    const int sdiv = mx == 0 ? 0 : (int)std::lround((double)(255 << 12) / mx);
    sat[i] = (uint8_t)(((mx - mn) * sdiv + (1 << 11)) >> 12);
  }
  return sat;
}

// A histogram slid along each row (Huang et al. 1979): a step removes one column and adds one,
// and the median moves from where it was, so a pixel costs about 2(2r+1) updates instead of a
// selection among (2r+1)^2 values.
std::vector<uint8_t> median_blur(const std::vector<uint8_t>& v, int w, int h, int r) {
  std::vector<uint8_t> out((size_t)w * h);
  const int half = (2 * r + 1) * (2 * r + 1) / 2;  // the median's rank, from 0
  std::vector<int> rows(2 * r + 1);
  for (int y = 0; y < h; ++y) {
    for (int d = -r; d <= r; ++d) rows[d + r] = std::clamp(y + d, 0, h - 1) * w;
    int hist[256] = {};
    auto column = [&](int x, int delta, int& below, int med) {
      const int cx = std::clamp(x, 0, w - 1);
      for (int row : rows) {
        const uint8_t s = v[(size_t)row + cx];
        hist[s] += delta;
        below += s < med ? delta : 0;
      }
    };
    int med = 0, below = 0;  // below: values under med
    for (int x = -r; x <= r; ++x) column(x, 1, below, med);
    for (int x = 0; x < w; ++x) {
      if (x > 0) {
        column(x - r - 1, -1, below, med);
        column(x + r, 1, below, med);
      }
      while (below > half) below -= hist[--med];
      while (below + hist[med] <= half) below += hist[med++];
      out[(size_t)y * w + x] = (uint8_t)med;
    }
  }
  return out;
}

TissueMask otsu_tissue_mask(const RgbImage& img, double downsample, int median_size) {
  const int w = img.width, h = img.height;
  DS_CHECK_INPUT(w > 0 && h > 0, "otsu tissue mask: empty image");
  const std::vector<uint8_t> sat = hsv_saturation(img);
  const std::vector<uint8_t> med = median_blur(sat, w, h, std::max(0, median_size / 2));
  std::vector<int64_t> hist(256, 0);
  for (uint8_t v : med) ++hist[v];
  const int t = otsu_threshold(hist);
  TissueMask mask;
  mask.width = w;
  mask.height = h;
  mask.downsample = downsample;
  mask.threshold = t;
  mask.on.resize(med.size());
  for (size_t i = 0; i < med.size(); ++i) mask.on[i] = med[i] > t ? 1 : 0;
  return mask;
}

}  // namespace ds
