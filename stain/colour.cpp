// RGB <-> HED and RGB <-> LAB as scikit-image 0.19 computes them (see colour.h).
#include "stain/colour.h"

#include <algorithm>
#include <cmath>

namespace ds {

namespace {

// skimage's xyz_from_rgb (sRGB primaries, D65) and the reference white of rgb2lab's default.
constexpr Mat3 kXyzFromRgb = {
    {{0.412453, 0.357580, 0.180423}, {0.212671, 0.715160, 0.072169}, {0.019334, 0.119193, 0.950227}}};
constexpr double kWhite[3] = {0.95047, 1.0, 1.08883};
const double kLogAdjust = std::log(1e-6);

const Mat3& rgb_from_xyz() {
  static const Mat3 m = mat3_inverse(kXyzFromRgb);
  return m;
}

}  // namespace

Mat3 mat3_inverse(const Mat3& m) {
  const double a = m[0][0], b = m[0][1], c = m[0][2], d = m[1][0], e = m[1][1], f = m[1][2], g = m[2][0], h = m[2][1],
               i = m[2][2];
  const double A = e * i - f * h, B = -(d * i - f * g), C = d * h - e * g;
  const double det = a * A + b * B + c * C;
  Mat3 r;
  r[0] = {A / det, -(b * i - c * h) / det, (b * f - c * e) / det};
  r[1] = {B / det, (a * i - c * g) / det, -(a * f - c * d) / det};
  r[2] = {C / det, -(a * h - b * g) / det, (a * e - b * d) / det};
  return r;
}

const Mat3& rgb_from_hed() {
  static const Mat3 m = {{{0.65, 0.70, 0.29}, {0.07, 0.99, 0.11}, {0.27, 0.57, 0.78}}};
  return m;
}

const Mat3& hed_from_rgb() {
  static const Mat3 m = mat3_inverse(rgb_from_hed());
  return m;
}

void rgb_to_hed(const double* rgb, double* hed, size_t n) {
  const Mat3& m = hed_from_rgb();
  for (size_t p = 0; p < n; ++p) {
    double l[3];
    for (int i = 0; i < 3; ++i) l[i] = std::log(std::max(rgb[p * 3 + i], 1e-6)) / kLogAdjust;
    for (int j = 0; j < 3; ++j) hed[p * 3 + j] = std::max(0.0, l[0] * m[0][j] + l[1] * m[1][j] + l[2] * m[2][j]);
  }
}

void hed_to_rgb(const double* hed, double* rgb, size_t n) {
  const Mat3& m = rgb_from_hed();
  for (size_t p = 0; p < n; ++p) {
    double s[3];
    for (int i = 0; i < 3; ++i) s[i] = hed[p * 3 + i] * -kLogAdjust;
    for (int j = 0; j < 3; ++j)
      rgb[p * 3 + j] = std::clamp(std::exp(-(s[0] * m[0][j] + s[1] * m[1][j] + s[2] * m[2][j])), 0.0, 1.0);
  }
}

double srgb_to_linear(double v) { return v > 0.04045 ? std::pow((v + 0.055) / 1.055, 2.4) : v / 12.92; }
double linear_to_srgb(double v) { return v > 0.0031308 ? 1.055 * std::pow(v, 1 / 2.4) - 0.055 : v * 12.92; }
double lab_f(double t) { return t > 0.008856 ? std::cbrt(t) : 7.787 * t + 16.0 / 116.0; }
double lab_f_inverse(double f) { return f > 0.2068966 ? f * f * f : (f - 16.0 / 116.0) / 7.787; }

void rgb_to_lab(const double* rgb, double* lab, size_t n) {
  for (size_t p = 0; p < n; ++p) {
    double lin[3], f[3];
    for (int i = 0; i < 3; ++i) lin[i] = srgb_to_linear(rgb[p * 3 + i]);
    for (int j = 0; j < 3; ++j) {
      const auto& r = kXyzFromRgb[j];
      f[j] = lab_f((r[0] * lin[0] + r[1] * lin[1] + r[2] * lin[2]) / kWhite[j]);
    }
    lab[p * 3 + 0] = 116.0 * f[1] - 16.0;
    lab[p * 3 + 1] = 500.0 * (f[0] - f[1]);
    lab[p * 3 + 2] = 200.0 * (f[1] - f[2]);
  }
}

void lab_to_rgb(const double* lab, double* rgb, size_t n) {
  const Mat3& m = rgb_from_xyz();
  for (size_t p = 0; p < n; ++p) {
    const double y = (lab[p * 3] + 16.0) / 116.0;
    const double f[3] = {lab[p * 3 + 1] / 500.0 + y, y, std::max(0.0, y - lab[p * 3 + 2] / 200.0)};
    double xyz[3];
    for (int j = 0; j < 3; ++j) xyz[j] = lab_f_inverse(f[j]) * kWhite[j];
    for (int j = 0; j < 3; ++j)
      rgb[p * 3 + j] = std::clamp(linear_to_srgb(m[j][0] * xyz[0] + m[j][1] * xyz[1] + m[j][2] * xyz[2]), 0.0, 1.0);
  }
}

}  // namespace ds
