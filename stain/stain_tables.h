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
struct ExpTable {
  static constexpr float kMin = -0.2f, kMax = 16.0f;
  static constexpr int kSteps = 4096;
  std::vector<uint8_t> v;
  explicit ExpTable(double io) : v((size_t)((kMax - kMin) * kSteps) + 2) {
    for (size_t i = 0; i < v.size(); ++i) {
      const double x = io * std::exp(-(kMin + (double)i / kSteps));
      v[i] = (uint8_t)std::lround(std::min(255.0, std::max(0.0, x)));
    }
  }
  uint8_t operator()(float od) const {
    const float t = (std::min(std::max(od, kMin), kMax) - kMin) * kSteps + 0.5f;
    return v[(size_t)t];
  }
};

}  // namespace ds
