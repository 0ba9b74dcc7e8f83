// The per-pixel loops of stain normalisation that vectorise, compiled twice: for baseline x86-64
// (SSE2, 4 floats a vector) and for AVX2 + FMA (8 floats, gathers for the table lookups), from
// one body (stain_loops.inc; stain_loops_generic.cpp and stain_loops_avx2.cpp), the instance
// picked at run time as engine/ picks its kernels: AVX2 where the CPU has AVX2 and FMA and
// DEEPSLIDE_ISA does not cap the path at scalar or ref. The two agree to float rounding (FMA
// contracts the sums), so an 8-bit output differs by at most one level, next to a rounding edge.
#pragma once
#include <cstddef>
#include <cstdint>

namespace ds {

struct StainLoops {
  // Redraws px RGB pixels in place: each pixel's ODs od_lut[v], out_c = sum_k M[k][c] od_k + off[c],
  // the byte ex[index(out_c)] of an ExpTable (stain/stain_tables.h).
  void (*redraw_linear)(uint8_t* p, size_t px, const float* od_lut, const uint8_t* ex, const float (*M)[3],
                        const float* off);
  // a[i] = p0 . od(pixel i), b[i] = p1 . od(pixel i) for px pixels.
  void (*project_od)(const uint8_t* p, size_t px, const float* od_lut, const float* p0, const float* p1, float* a,
                     float* b);
  // t[i] = (v2 . od_i) / (v1 . od_i) for n ODs given as three planes; false when some v1 . od_i <= 0
  // (Macenko's angles are then ranked by atan2 instead, stain/macenko.cpp).
  bool (*tangents)(const float* o0, const float* o1, const float* o2, size_t n, const float* v1, const float* v2,
                   float* t);
  // n <= 256 pixels to CIE LAB planes: linear[v] the sRGB curve, xyz the normalised RGB -> XYZ
  // rows, f the LAB curve sampled every f_max / f_samples (linear interpolation).
  void (*rgb_to_lab)(const uint8_t* p, size_t n, const float* linear, const float (*xyz)[3], const float* f,
                     int f_samples, float f_max, float* L, float* A, float* B);
  // n <= 256 LAB pixels, each channel scaled and shifted, back to 8-bit sRGB through the XYZ ->
  // linear RGB rows `rgb` and the 65536-entry linear -> sRGB table srgb8; dst is RGB.
  void (*lab_to_rgb)(const float* L, const float* A, const float* B, size_t n, const float* scale, const float* shift,
                     const float (*rgb)[3], const uint8_t* srgb8, uint8_t* dst);
};

// The instance for this CPU and DEEPSLIDE_ISA (chosen once), or the one forced.
const StainLoops& stain_loops();
void force_stain_loops(const StainLoops* loops);  // tests: run one instance; nullptr: the CPU's choice again
const StainLoops& stain_loops_generic();
const StainLoops& stain_loops_avx2();  // call only where stain_loops_have_avx2()
bool stain_loops_have_avx2();          // the CPU has AVX2 and FMA (whatever DEEPSLIDE_ISA says)

}  // namespace ds
