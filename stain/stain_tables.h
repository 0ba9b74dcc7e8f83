// Tables that turn the per-pixel logarithms and exponentials of stain work into lookups: 8-bit
// values have 256 logarithms, and an 8-bit result needs its exponential only to a step finer than
// half a level. Built once, shared by every thread.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace ds {

// od[v] = -ln((v + offset) / io) for v in 0..255.
struct OdTable {
  float od[256];
  OdTable(double offset, double io, double floor_value = 0) {
    for (int v = 0; v < 256; ++v) od[v] = (float)-std::log(std::max(v + offset, floor_value) / io);
  }
};

// 8-bit round(clamp(io * exp(-od), 0, 255)) for od in [kMin, kMax], sampled every 1/kSteps: the
// largest slope, 255 levels per unit OD, puts a sample's error under 0.07 of a level, so a result
// differs from exact rounding by at most one level, and only next to a rounding boundary.
// Callers keep data() in a local: a byte store may alias anything, so a pointer read through the
// table object would be reloaded after every store.
struct ExpTable {
  static constexpr float kMin = -0.2f, kMax = 16.0f;
  static constexpr int kSteps = 4096;
  static constexpr int kLast = (int)((kMax - kMin) * kSteps);
  std::vector<uint8_t> v;
  explicit ExpTable(double io) : v((size_t)kLast + 1) {
    for (size_t i = 0; i < v.size(); ++i) {
      const double x = io * std::exp(-(kMin + (double)i / kSteps));
      v[i] = (uint8_t)std::lround(std::min(255.0, std::max(0.0, x)));
    }
  }
  const uint8_t* data() const { return v.data(); }
  // The entry of od (clamped to the table), branch-free.
  static int index(float od) {
    float t = (od - kMin) * (float)kSteps + 0.5f;
    t = t < 0.f ? 0.f : t;
    t = t > (float)kLast ? (float)kLast : t;
    return (int)t;
  }
};

// Redraws img in chunks of kChunk pixels: the three ODs of each pixel gathered from od_lut, then
// map(o0, o1, o2, r0, r1, r2, n) computes the output ODs (plain loops over arrays, which the
// compiler vectorises), then their table indices (vectorised clamps) and the bytes from ex.
// Splitting gathers from arithmetic is what lets the arithmetic run on vectors at all.
template <class Map>
void redraw_od(uint8_t* p, size_t px, const float* od_lut, const uint8_t* ex, Map&& map) {
  constexpr size_t kChunk = 256;
  alignas(64) float o[3][kChunk], r[3][kChunk];
  alignas(64) int idx[3][kChunk];
  for (size_t start = 0; start < px; start += kChunk) {
    const size_t n = std::min(kChunk, px - start);
    const uint8_t* src = p + start * 3;
    for (size_t i = 0; i < n; ++i) {
      o[0][i] = od_lut[src[i * 3]];
      o[1][i] = od_lut[src[i * 3 + 1]];
      o[2][i] = od_lut[src[i * 3 + 2]];
    }
    map(o[0], o[1], o[2], r[0], r[1], r[2], n);
    for (int c = 0; c < 3; ++c)
      for (size_t i = 0; i < n; ++i) {
        float t = (r[c][i] - ExpTable::kMin) * (float)ExpTable::kSteps + 0.5f;
        t = std::max(t, 0.f);
        t = std::min(t, (float)ExpTable::kLast);
        idx[c][i] = (int)t;
      }
    uint8_t* dst = p + start * 3;
    for (size_t i = 0; i < n; ++i) {
      dst[i * 3] = ex[idx[0][i]];
      dst[i * 3 + 1] = ex[idx[1][i]];
      dst[i * 3 + 2] = ex[idx[2][i]];
    }
  }
}

// The common map: r = M^T o + off (M[in][out]).
struct LinearOdMap {
  float M[3][3], off[3];
  void operator()(const float* o0, const float* o1, const float* o2, float* r0, float* r1, float* r2, size_t n) const {
    float* r[3] = {r0, r1, r2};
    for (int c = 0; c < 3; ++c) {
      const float a = M[0][c], b = M[1][c], d = M[2][c], e = off[c];
      float* rc = r[c];
      for (size_t i = 0; i < n; ++i) rc[i] = o0[i] * a + o1[i] * b + o2[i] * d + e;
    }
  }
};

}  // namespace ds
