// Procedural H&E-like tissue for synthetic slides (`deepslide synth`): pink stroma with fibre
// texture, purple nuclei, tissue islands on white glass. Classes differ in morphology — nuclear
// size, shape, density and arrangement (glands, sheets, dense small-cell clusters) — not in
// colour: every slide gets its own random stain variation drawn from the same distribution for
// all classes, so a classifier has to learn texture. Any region renders independently and
// deterministically from (seed, class, position), so a slide of any size is written tile by tile
// without ever holding a whole level in memory.
#pragma once
#include <cstdint>

#include "slide/reader/image_io.h"

namespace ds {

struct SynthMorphology {
  double nucleus_radius = 4.0;  // mean radius in level-0 pixels
  double radius_jitter = 0.2;   // relative spread of the radius
  double max_aspect = 1.3;      // nuclei are ellipses with aspect ratio in [1, max_aspect]
  double density = 1.0;         // nuclei per 1000 px^2 of tissue
  double glands = 0.0;          // 0..1: share of nuclei arranged in rings around lumens
  double clustering = 0.0;      // 0..1: share of nuclei in dense clumps
  double darkness = 0.7;        // 0..1 hematoxylin intensity
};

// The morphology of class `cls` (cycles through distinct archetypes; classes beyond the first
// three are blends with different parameters, still distinct).
SynthMorphology synth_class_morphology(int cls);

class SynthTissue {
 public:
  SynthTissue(int64_t width, int64_t height, int cls, uint64_t seed);
  int64_t width() const { return width_; }
  int64_t height() const { return height_; }
  // Renders level-0 pixels [x, x + out.width) x [y, y + out.height) into out (sized by caller).
  void render(int64_t x, int64_t y, RgbImage& out) const;
  // Whether level-0 pixel (x, y) lies in tissue (for tests and tissue statistics).
  bool in_tissue(double x, double y) const;

 private:
  struct Island {
    double cx, cy, rx, ry;
  };
  struct Cells;  // the glands and nuclei near a region (synth_tissue.cpp)
  // render's steps, in order: stroma and glass, the cells that reach the region, lumens, nuclei.
  void paint_stroma(int64_t x0, int64_t y0, RgbImage& out) const;
  Cells collect_cells(double rx0, double ry0, double rx1, double ry1) const;
  void paint_lumens(const Cells& cells, int64_t x0, int64_t y0, RgbImage& out) const;
  void paint_nuclei(const Cells& cells, int64_t x0, int64_t y0, RgbImage& out) const;
  double noise(double x, double y, double scale, uint64_t salt) const;  // smooth value noise in [0,1)
  int64_t width_, height_;
  int cls_;
  uint64_t seed_;
  SynthMorphology m_;
  Island islands_[4];
  int n_islands_ = 0;
  double stain_h_[3], stain_e_[3];  // per-slide hematoxylin and eosin colours
  double stain_strength_;
  double fibre_cos_ = 1, fibre_sin_ = 0;  // per-slide fibre direction
};

}  // namespace ds
