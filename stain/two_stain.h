// The two-stain optical-density model that Macenko's and Vahadane's normalisers share: once a
// window's haematoxylin and eosin OD vectors are estimated (the methods differ only there), each
// pixel's two concentrations by least squares, their 99th percentiles (the window's stain scale),
// and the redraw with a reference's vectors and scales: Io * exp(-HE_ref * C * maxC_ref / maxC).
// OD is -ln((I + 1) / Io) with Macenko's light intensity Io (stain/stain_norm.h) for both.
#pragma once
#include <array>

#include "base/rgb_image.h"

namespace ds {

using StainPair = std::array<std::array<double, 3>, 2>;  // unit OD vectors, haematoxylin then eosin

// A window's estimate: its vectors and the 99th percentiles of their concentrations.
struct TwoStainFit {
  bool ok = false;  // false: too little tissue, or a degenerate estimate
  StainPair stains{};
  std::array<double, 2> max_conc{};
};

// od[v] for every 8-bit value v (shared by both methods and their tissue masks).
const float* two_stain_od_table();

// The 99th percentile of each stain's least-squares concentration over every pixel of `img`
// (background included, as the reference code does); false when the vectors are (nearly) parallel
// or a percentile is not positive.
bool stain_max_conc(const RgbImage& img, const StainPair& stains, std::array<double, 2>& max_conc);

// Redraws `img`, whose own vectors and scales are (src, src_max), with (ref, ref_max): a 3x3 map of
// OD per image, applied through tables (stain_tables.h).
void redraw_two_stain(RgbImage& img, const StainPair& src, const std::array<double, 2>& src_max, const StainPair& ref,
                      const std::array<double, 2>& ref_max);

}  // namespace ds
