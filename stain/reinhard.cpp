// Reinhard's colour transfer on 8-bit RGB (see reinhard.h). The forward LAB conversion runs once
// per pixel into a float scratch (the statistics need it before the transfer can start); the
// cube root comes from a table sampled finely enough that L, a and b stay within 1e-3 of
// skimage's, and linear RGB goes back to 8-bit sRGB through a 64 K-entry table.
#include "stain/reinhard.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "stain/colour.h"
#include "stain/stain_loops.h"

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
  float xyz[3][3];  // kXyz in float
  Tables() : f(kFSamples + 2), srgb8(65536) {
    for (int r = 0; r < 3; ++r)
      for (int c = 0; c < 3; ++c) xyz[r][c] = (float)kXyz[r][c];
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

// img -> LAB planes, a chunk at a time through the stain loops (stain/stain_loops.h).
void to_lab(const RgbImage& img, Planes& lab) {
  const Tables& T = tables();
  const size_t px = (size_t)img.width * img.height;
  for (auto& c : lab.c) c.resize(px);
  const StainLoops& loops = stain_loops();
  for (size_t start = 0; start < px; start += kChunk) {
    const size_t n = std::min(kChunk, px - start);
    loops.rgb_to_lab(img.pixels.data() + start * 3, n, T.linear, T.xyz, T.f.data(), Tables::kFSamples, Tables::kFMax,
                     lab.c[0].data() + start, lab.c[1].data() + start, lab.c[2].data() + start);
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

}  // namespace

LabStats lab_stats(const RgbImage& img) {
  Planes& lab = scratch();
  to_lab(img, lab);
  return stats_of(lab, (size_t)img.width * img.height);
}

namespace {

// Each LAB channel's map from `src`'s statistics to `target`'s: x * scale + shift.
void channel_maps(const LabStats& src, const LabStats& target, float scale[3], float shift[3]) {
  for (int c = 0; c < 3; ++c) {
    const double k = src.std[c] > 1e-9 ? target.std[c] / src.std[c] : 1.0;
    scale[c] = (float)k;
    shift[c] = (float)(target.mean[c] - src.mean[c] * k);
  }
}

// Writes img from its LAB planes moved from `src`'s statistics to `target`'s.
void transfer(RgbImage& img, const Planes& lab, const LabStats& src, const LabStats& target) {
  const size_t px = (size_t)img.width * img.height;
  float scale[3], shift[3];
  channel_maps(src, target, scale, shift);
  const Tables& T = tables();
  const StainLoops& loops = stain_loops();
  for (size_t start = 0; start < px; start += kChunk) {
    const size_t n = std::min(kChunk, px - start);
    loops.lab_to_rgb(lab.c[0].data() + start, lab.c[1].data() + start, lab.c[2].data() + start, n, scale, shift,
                     T.rgb_from_xyz, T.srgb8.data(), img.pixels.data() + start * 3);
  }
}

}  // namespace

void reinhard_apply(RgbImage& img, const LabStats& target) {
  const size_t px = (size_t)img.width * img.height;
  if (px == 0) return;
  Planes& lab = scratch();
  to_lab(img, lab);
  transfer(img, lab, stats_of(lab, px), target);
}

void reinhard_transfer(RgbImage& img, const LabStats& source, const LabStats& target) {
  // No statistics to wait for: each chunk goes to LAB and back while it is in the cache.
  float scale[3], shift[3];
  channel_maps(source, target, scale, shift);
  const Tables& T = tables();
  const StainLoops& loops = stain_loops();
  const size_t px = (size_t)img.width * img.height;
  alignas(64) float L[kChunk], A[kChunk], B[kChunk];
  for (size_t start = 0; start < px; start += kChunk) {
    const size_t n = std::min(kChunk, px - start);
    uint8_t* p = img.pixels.data() + start * 3;
    loops.rgb_to_lab(p, n, T.linear, T.xyz, T.f.data(), Tables::kFSamples, Tables::kFMax, L, A, B);
    loops.lab_to_rgb(L, A, B, n, scale, shift, T.rgb_from_xyz, T.srgb8.data(), p);
  }
}

}  // namespace ds
