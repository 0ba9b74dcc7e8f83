// Colour spaces of stain work, with scikit-image 0.19's constants and arithmetic (its own
// functions are the test oracle, tests/test_stain.cpp): RGB <-> HED (Ruifrok & Johnston's
// colour deconvolution, skimage's rgb2hed / hed2rgb) and RGB <-> CIE LAB (D65, 2-degree observer,
// skimage's rgb2lab / lab2rgb). Pixels are interleaved triples of doubles, RGB in [0, 1]. These are
// the exact forms; the per-window paths (stain_norm, hed_jitter) use tables built from them.
#pragma once
#include <array>
#include <cstddef>

namespace ds {

using Mat3 = std::array<std::array<double, 3>, 3>;

// Rows are the stains' optical-density vectors in RGB: haematoxylin, eosin, DAB (skimage's
// rgb_from_hed, Ruifrok & Johnston 2001), and its inverse.
const Mat3& rgb_from_hed();
const Mat3& hed_from_rgb();

Mat3 mat3_inverse(const Mat3& m);

// skimage's separate_stains: hed_j = max(0, sum_i ln(max(rgb_i, 1e-6)) / ln(1e-6) * hed_from_rgb[i][j]).
void rgb_to_hed(const double* rgb, double* hed, size_t n);
// skimage's combine_stains: rgb_j = clip(exp(-sum_i hed_i * (-ln 1e-6) * rgb_from_hed[i][j]), 0, 1).
void hed_to_rgb(const double* hed, double* rgb, size_t n);

// The scale between skimage's HED units and natural-log optical density (-ln 1e-6 = 13.8).
constexpr double kHedOdScale = 13.815510557964274;

// sRGB (IEC 61966-2-1 curve, skimage's xyz_from_rgb) -> XYZ -> LAB relative to D65 white
// (0.95047, 1, 1.08883), CIE's f(t) with skimage's constants (0.008856, 7.787).
void rgb_to_lab(const double* rgb, double* lab, size_t n);
// The inverse, as skimage's lab2rgb: z < 0 set to 0, the sRGB result clipped to [0, 1].
void lab_to_rgb(const double* lab, double* rgb, size_t n);

// One pixel of each, for the table builders.
double srgb_to_linear(double v);
double linear_to_srgb(double v);  // not clipped
double lab_f(double t);           // XYZ/white -> the cube-root-like f
double lab_f_inverse(double f);

}  // namespace ds
