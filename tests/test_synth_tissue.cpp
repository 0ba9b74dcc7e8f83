// Synthetic H&E tissue: deterministic, tile-independent rendering, tissue on glass, and classes
// that differ in nuclear morphology rather than overall colour.
#include <catch2/catch.hpp>

#include <cmath>

#include "slide/synth/synth_tissue.h"
#include "slide/windows/tissue_filter.h"

using namespace ds;

TEST_CASE("regions render the same whole or in tiles, and deterministically") {
  SynthTissue t(1200, 900, 1, 99);
  RgbImage whole(300, 200);
  t.render(400, 300, whole);
  RgbImage a(150, 200), b(150, 200);
  t.render(400, 300, a);
  t.render(550, 300, b);
  int diff = 0;
  for (int y = 0; y < 200; ++y)
    for (int x = 0; x < 300; ++x)
      for (int c = 0; c < 3; ++c) {
        uint8_t v = x < 150 ? a.row(y)[3 * x + c] : b.row(y)[3 * (x - 150) + c];
        diff += v != whole.row(y)[3 * x + c];
      }
  CHECK(diff == 0);
  RgbImage again(300, 200);
  SynthTissue(1200, 900, 1, 99).render(400, 300, again);
  CHECK(again.pixels == whole.pixels);
  RgbImage other(300, 200);
  SynthTissue(1200, 900, 1, 100).render(400, 300, other);
  CHECK(other.pixels != whole.pixels);
}

struct Stats {
  double tissue = 0, dark = 0, mean_r = 0, mean_g = 0, mean_b = 0;
};

static Stats stats(int cls, uint64_t seed) {
  SynthTissue t(1024, 768, cls, seed);
  RgbImage img(1024, 768);
  t.render(0, 0, img);
  Stats s;
  double n_t = 0;
  for (int y = 0; y < img.height; ++y)
    for (int x = 0; x < img.width; ++x) {
      const uint8_t* p = img.row(y) + 3 * x;
      if (!t.in_tissue(x, y)) continue;
      n_t++;
      s.dark += (p[0] + p[1] + p[2]) / 3.0 < 150;
      s.mean_r += p[0];
      s.mean_g += p[1];
      s.mean_b += p[2];
    }
  s.tissue = n_t / (1024.0 * 768.0);
  s.dark /= n_t;
  s.mean_r /= n_t;
  s.mean_g /= n_t;
  s.mean_b /= n_t;
  return s;
}

TEST_CASE("slides have tissue on glass and classes differ in morphology") {
  for (int cls = 0; cls < 3; ++cls) {
    Stats s = stats(cls, 7 + cls);
    INFO("class " << cls << " tissue " << s.tissue << " dark " << s.dark);
    CHECK(s.tissue > 0.08);
    CHECK(s.tissue < 0.9);
    CHECK(s.dark > 0.002);
    // Tissue passes DeepSlide's purple filter colour rule on average.
    CHECK(s.mean_r > s.mean_g - 10);
    CHECK((s.mean_r + s.mean_b) / 2 > s.mean_g + 20);
  }
  // Nuclear area differs clearly between class 1 (large dense nuclei) and the others.
  CHECK(stats(1, 3).dark > 2 * stats(0, 3).dark);
}
