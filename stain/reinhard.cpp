// Reinhard's colour transfer on 8-bit RGB (see reinhard.h). The forward LAB conversion runs once
// per pixel into a float scratch (the statistics need it before the transfer can start); the
// cube root comes from a table sampled finely enough that L, a and b stay within 1e-3 of
// skimage's, and linear RGB goes back to 8-bit sRGB through a 64 K-entry table.
#include "stain/reinhard.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "stain/colour.h"

namespace ds {

namespace {

constexpr double kXyz[3][3] = {{0.412453 / 0.95047, 0.357580 / 0.95047, 0.180423 / 0.95047},
                               {0.212671, 0.715160, 0.072169},
                               {0.019334 / 1.08883, 0.119193 / 1.08883, 0.950227 / 1.08883}};

struct Tables {
  float linear[256];  // sRGB 8-bit -> linear
  // lab_f(t) for t in [0, kFMax], linear interpolation between samples kFStep apart.
  static constexpr int kFSamples = 8192;
  static constexpr float kFMax = 1.02f;
  std::vector<float> f;
  // linear RGB in [0, 1] -> 8-bit sRGB, every 1/65535.
  std::vector<uint8_t> srgb8;
  float rgb_from_xyz[3][3];
  Tables() : f(kFSamples + 2), srgb8(65536) {
    for (int v = 0; v < 256; ++v) linear[v] = (float)srgb_to_linear(v / 255.0);
    for (size_t i = 0; i < f.size(); ++i) f[i] = (float)ds::lab_f((double)i * kFMax / kFSamples);
    for (size_t i = 0; i < srgb8.size(); ++i)
      srgb8[i] = (uint8_t)std::lround(std::clamp(linear_to_srgb((double)i / 65535.0), 0.0, 1.0) * 255.0);
    Mat3 m = {{{0.412453, 0.357580, 0.180423}, {0.212671, 0.715160, 0.072169}, {0.019334, 0.119193, 0.950227}}};
    const Mat3 inv = mat3_inverse(m);
    const double white[3] = {0.95047, 1.0, 1.08883};
    for (int r = 0; r < 3; ++r)
      for (int c = 0; c < 3; ++c) rgb_from_xyz[r][c] = (float)(inv[r][c] * white[c]);
  }
  float lab_f(float t) const {
    if (t > kFMax) return std::cbrt(t);
    const float x = std::max(t, 0.0f) * (kFSamples / kFMax);
    const int i = (int)x;
    return f[(size_t)i] + (f[(size_t)i + 1] - f[(size_t)i]) * (x - (float)i);
  }
};

const Tables& tables() {
  static const Tables t;
  return t;
}

std::vector<float>& scratch() {
  thread_local std::vector<float> s;
  return s;
}

// img -> LAB floats, interleaved.
void to_lab(const RgbImage& img, float* lab) {
  const Tables& T = tables();
  float m[3][3];
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 3; ++c) m[r][c] = (float)kXyz[r][c];
  const size_t px = (size_t)img.width * img.height;
  const uint8_t* p = img.pixels.data();
  for (size_t i = 0; i < px; ++i) {
    const float r = T.linear[p[i * 3]], g = T.linear[p[i * 3 + 1]], b = T.linear[p[i * 3 + 2]];
    const float fx = T.lab_f(m[0][0] * r + m[0][1] * g + m[0][2] * b);
    const float fy = T.lab_f(m[1][0] * r + m[1][1] * g + m[1][2] * b);
    const float fz = T.lab_f(m[2][0] * r + m[2][1] * g + m[2][2] * b);
    lab[i * 3] = 116.f * fy - 16.f;
    lab[i * 3 + 1] = 500.f * (fx - fy);
    lab[i * 3 + 2] = 200.f * (fy - fz);
  }
}

LabStats stats_of(const float* lab, size_t px) {
  double s[3] = {0, 0, 0}, ss[3] = {0, 0, 0};
  for (size_t i = 0; i < px; ++i)
    for (int c = 0; c < 3; ++c) {
      const double v = lab[i * 3 + c];
      s[c] += v, ss[c] += v * v;
    }
  LabStats st;
  const double n = (double)std::max<size_t>(px, 1);
  for (int c = 0; c < 3; ++c) {
    st.mean[c] = s[c] / n;
    st.std[c] = std::sqrt(std::max(0.0, ss[c] / n - st.mean[c] * st.mean[c]));
  }
  return st;
}

inline float f_inverse(float f) { return f > 0.2068966f ? f * f * f : (f - 16.f / 116.f) * (1.f / 7.787f); }

}  // namespace

LabStats lab_stats(const RgbImage& img) {
  const size_t px = (size_t)img.width * img.height;
  std::vector<float>& lab = scratch();
  lab.resize(px * 3);
  to_lab(img, lab.data());
  return stats_of(lab.data(), px);
}

void reinhard_apply(RgbImage& img, const LabStats& target) {
  const size_t px = (size_t)img.width * img.height;
  if (px == 0) return;
  std::vector<float>& lab = scratch();
  lab.resize(px * 3);
  to_lab(img, lab.data());
  const LabStats src = stats_of(lab.data(), px);
  float scale[3], shift[3];
  for (int c = 0; c < 3; ++c) {
    const double k = src.std[c] > 1e-9 ? target.std[c] / src.std[c] : 1.0;
    scale[c] = (float)k;
    shift[c] = (float)(target.mean[c] - src.mean[c] * k);
  }
  const Tables& T = tables();
  float M[3][3];
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 3; ++c) M[r][c] = T.rgb_from_xyz[r][c];
  const uint8_t* srgb8 = T.srgb8.data();
  uint8_t* p = img.pixels.data();
  for (size_t i = 0; i < px; ++i) {
    const float L = lab[i * 3] * scale[0] + shift[0];
    const float a = lab[i * 3 + 1] * scale[1] + shift[1];
    const float b = lab[i * 3 + 2] * scale[2] + shift[2];
    const float fy = (L + 16.f) * (1.f / 116.f);
    const float fx = a * (1.f / 500.f) + fy;
    const float fz = std::max(0.f, fy - b * (1.f / 200.f));
    const float x = f_inverse(fx), y = f_inverse(fy), z = f_inverse(fz);
    uint8_t out[3];
    for (int c = 0; c < 3; ++c) {
      float lin = M[c][0] * x + M[c][1] * y + M[c][2] * z;
      lin = lin < 0.f ? 0.f : lin;
      lin = lin > 1.f ? 1.f : lin;
      out[c] = srgb8[(int)(lin * 65535.f + 0.5f)];
    }
    p[i * 3] = out[0], p[i * 3 + 1] = out[1], p[i * 3 + 2] = out[2];
  }
}

}  // namespace ds
