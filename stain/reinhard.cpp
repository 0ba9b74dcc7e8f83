// Reinhard's colour transfer on 8-bit RGB (see reinhard.h). The forward LAB conversion runs once
// per pixel into a float scratch (the statistics need it before the transfer can start); the
// cube root comes from a table sampled finely enough that L, a and b stay within 1e-3 of
// skimage's, and linear RGB goes back to 8-bit sRGB through a 64 K-entry table.
#include "stain/reinhard.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "stain/bit_select.h"
#include "stain/colour.h"

namespace ds {

namespace {

constexpr double kXyz[3][3] = {{0.412453 / 0.95047, 0.357580 / 0.95047, 0.180423 / 0.95047},
                               {0.212671, 0.715160, 0.072169},
                               {0.019334 / 1.08883, 0.119193 / 1.08883, 0.950227 / 1.08883}};

constexpr size_t kChunk = 256;

struct Tables {
  float linear[256];  // sRGB 8-bit -> linear
  // lab_f(t) for t in [0, kFMax], linear interpolation between samples kFMax / kFSamples apart
  // (8-bit sRGB gives t <= 1: white over the reference white).
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
};

const Tables& tables() {
  static const Tables t;
  return t;
}

// A window's LAB values, one plane per channel.
struct Planes {
  std::vector<float> c[3];
};

Planes& scratch() {
  thread_local Planes s;
  return s;
}

// f of n values of t (in place): the table index and weight are computed on vectors, the two
// samples gathered.
void lab_f_chunk(float* t, size_t n, const float* f) {
  alignas(64) int idx[kChunk];
  alignas(64) float w[kChunk];
  for (size_t i = 0; i < n; ++i) {
    float x = t[i] * (Tables::kFSamples / Tables::kFMax);
    x = bit_select(x > 0.f, x, 0.f);
    x = bit_select(x < (float)Tables::kFSamples, x, (float)Tables::kFSamples);
    const int k = (int)x;
    idx[i] = k;
    w[i] = x - (float)k;
  }
  for (size_t i = 0; i < n; ++i) t[i] = f[idx[i]] + (f[idx[i] + 1] - f[idx[i]]) * w[i];
}

// img -> LAB planes.
void to_lab(const RgbImage& img, Planes& lab) {
  const Tables& T = tables();
  const size_t px = (size_t)img.width * img.height;
  for (auto& c : lab.c) c.resize(px);
  const uint8_t* p = img.pixels.data();
  alignas(64) float rgb[3][kChunk], t[3][kChunk];
  for (size_t start = 0; start < px; start += kChunk) {
    const size_t n = std::min(kChunk, px - start);
    for (size_t i = 0; i < n; ++i)
      for (int c = 0; c < 3; ++c) rgb[c][i] = T.linear[p[(start + i) * 3 + c]];
    for (int r = 0; r < 3; ++r) {
      const float a = (float)kXyz[r][0], b = (float)kXyz[r][1], d = (float)kXyz[r][2];
      for (size_t i = 0; i < n; ++i) t[r][i] = a * rgb[0][i] + b * rgb[1][i] + d * rgb[2][i];
      lab_f_chunk(t[r], n, T.f.data());
    }
    float* L = lab.c[0].data() + start;
    float* A = lab.c[1].data() + start;
    float* B = lab.c[2].data() + start;
    for (size_t i = 0; i < n; ++i) {
      L[i] = 116.f * t[1][i] - 16.f;
      A[i] = 500.f * (t[0][i] - t[1][i]);
      B[i] = 200.f * (t[1][i] - t[2][i]);
    }
  }
}

LabStats stats_of(const Planes& lab, size_t px) {
  LabStats st;
  const double n = (double)std::max<size_t>(px, 1);
  for (int c = 0; c < 3; ++c) {
    // Eight partial sums in a fixed order: one running sum would be a chain of dependent adds
    // (without -ffast-math the compiler may not reorder them), the slowest part of a window.
    constexpr size_t kLanes = 8;
    double sl[kLanes] = {}, ssl[kLanes] = {};
    const float* v = lab.c[c].data();
    size_t i = 0;
    for (; i + kLanes <= px; i += kLanes)
      for (size_t j = 0; j < kLanes; ++j) sl[j] += v[i + j], ssl[j] += (double)v[i + j] * v[i + j];
    for (size_t j = 0; i < px; ++i, ++j) sl[j] += v[i], ssl[j] += (double)v[i] * v[i];
    double s = 0, ss = 0;
    for (size_t j = 0; j < kLanes; ++j) s += sl[j], ss += ssl[j];
    st.mean[c] = s / n;
    st.std[c] = std::sqrt(std::max(0.0, ss / n - st.mean[c] * st.mean[c]));
  }
  return st;
}

// Both branches computed, then one selected.
inline float f_inverse(float f) {
  const float cube = f * f * f, line = (f - 16.f / 116.f) * (1.f / 7.787f);
  return bit_select(f > 0.2068966f, cube, line);
}

}  // namespace

LabStats lab_stats(const RgbImage& img) {
  Planes& lab = scratch();
  to_lab(img, lab);
  return stats_of(lab, (size_t)img.width * img.height);
}

void reinhard_apply(RgbImage& img, const LabStats& target) {
  const size_t px = (size_t)img.width * img.height;
  if (px == 0) return;
  Planes& lab = scratch();
  to_lab(img, lab);
  const LabStats src = stats_of(lab, px);
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
  alignas(64) float xyz[3][kChunk];
  alignas(64) int idx[3][kChunk];
  for (size_t start = 0; start < px; start += kChunk) {
    const size_t n = std::min(kChunk, px - start);
    const float* L = lab.c[0].data() + start;
    const float* A = lab.c[1].data() + start;
    const float* B = lab.c[2].data() + start;
    for (size_t i = 0; i < n; ++i) {
      const float fy = (L[i] * scale[0] + shift[0] + 16.f) * (1.f / 116.f);
      const float fx = (A[i] * scale[1] + shift[1]) * (1.f / 500.f) + fy;
      const float z = fy - (B[i] * scale[2] + shift[2]) * (1.f / 200.f);
      const float fz = bit_select(z > 0.f, z, 0.f);
      xyz[0][i] = f_inverse(fx), xyz[1][i] = f_inverse(fy), xyz[2][i] = f_inverse(fz);
    }
    for (int c = 0; c < 3; ++c)
      for (size_t i = 0; i < n; ++i) {
        // linear RGB clamped to [0, 1], as its table index: clamping the index instead of the value
        // gives the same integers (the rounding offset is below one step) and vectorises.
        const float lin = M[c][0] * xyz[0][i] + M[c][1] * xyz[1][i] + M[c][2] * xyz[2][i];
        float t = lin * 65535.f + 0.5f;
        t = std::max(t, 0.f);
        t = std::min(t, 65535.f);
        idx[c][i] = (int)t;
      }
    uint8_t* dst = p + start * 3;
    for (size_t i = 0; i < n; ++i) {
      dst[i * 3] = srgb8[idx[0][i]];
      dst[i * 3 + 1] = srgb8[idx[1][i]];
      dst[i * 3 + 2] = srgb8[idx[2][i]];
    }
  }
}

}  // namespace ds
