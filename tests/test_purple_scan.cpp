// The chunked purple scan (slide/windows/purple_scan.h) decides every window as reading it alone
// and testing it does: block counts from a summed-area table equal the pixel-by-pixel ones, and
// scan_tissue_windows equals read_window + is_purple over the whole grid on pyramid levels whose
// downsample is not an integer, at several overlaps and patch sizes, and on a slide with a
// corrupt tile (keep_unreadable keeps the windows that touch it, the others are judged).
#include <catch2/catch.hpp>

#include <algorithm>

#include "base/error.h"
#include "slide/reader/slide.h"
#include "slide/reader/tiff_dir.h"
#include "slide/synth/pyramid_writer.h"
#include "slide/synth/synth_tissue.h"
#include "slide/windows/slide_windows.h"
#include "slide/windows/tissue_filter.h"
#include "test_slide_util.h"

using namespace ds;
using namespace ds::test;

namespace {

// Synthetic tissue on the left two thirds, white on the right: windows of both kinds.
RgbImage half_tissue(int w, int h, uint64_t seed) {
  RgbImage img(w, h);
  SynthTissue(w, h, 1, seed).render(0, 0, img);
  for (int y = 0; y < h; ++y) std::fill(img.row(y) + (size_t)(2 * w / 3) * 3, img.row(y) + (size_t)w * 3, 255);
  return img;
}

// The windows read_window + is_purple keeps, window by window (an unreadable one kept when
// opt.keep_unreadable, as the scan's per-window test does).
std::vector<Window> one_by_one(const Slide& slide, const WindowOptions& opt) {
  const ReadGeometry g = read_geometry(slide, opt);
  std::vector<Window> keep;
  for (const Window& w : candidate_windows(slide, g, opt.overlap)) {
    bool purple = true;
    try {
      purple = is_purple(read_window(slide, g, w, 1), opt.purple);
    } catch (const InputError&) {
      if (!opt.keep_unreadable) throw;
    }
    if (purple) keep.push_back(w);
  }
  return keep;
}

}  // namespace

TEST_CASE("purple block counts from a summed-area table equal the pixel-by-pixel counts", "[tissue]") {
  const RgbImage img = half_tissue(640, 480, 3);
  const RgbIntegral table(img);
  int nonzero = 0;
  for (int side : {224, 100, 37, 16})
    for (int scale : {15, 7})
      for (int y = 0; y + side <= img.height; y += 61)
        for (int x = 0; x + side <= img.width; x += 53) {
          const uint8_t* at = img.pixels.data() + ((size_t)y * img.width + x) * 3;
          const int want = purple_block_count(at, side, side, (int64_t)img.width * 3, scale);
          INFO("side " << side << " scale " << scale << " at " << x << "," << y);
          REQUIRE(purple_block_count(table, x, y, side, scale) == want);
          nonzero += want > 0;
        }
  CHECK(nonzero > 10);  // the image has purple blocks for the counts to agree on
  CHECK_THROWS_AS(purple_block_count(table, 0, 0, 10, 15), InputError);
}

TEST_CASE("the chunked purple scan keeps the windows a window-by-window scan keeps", "[tissue]") {
  const std::string dir = temp_dir("purple_scan");
  PyramidWriteOptions po;
  po.tile_size = 128;
  // Odd sizes: level 1's downsample is 2.0007 x 2.0009, so window corners round as on real slides.
  write_pyramid(dir + "/s.tif", half_tissue(3001, 2203, 5), po);
  auto slide = Slide::open(dir + "/s.tif");
  REQUIRE(slide->level_count() >= 2);
  REQUIRE(slide->level(1).downsample != 2.0);
  for (int level : {0, 1})
    for (int patch : {224, 64})
      for (double overlap : {3.0, 2.5, 1.0}) {
        WindowOptions opt;
        opt.level = level;
        opt.patch_size = patch;
        opt.overlap = overlap;
        const std::vector<Window> want = one_by_one(*slide, opt);
        int64_t checked = 0;
        const SlideWindows got = select_windows(*slide, opt, 2, [&](int64_t n) {
#pragma omp atomic
          checked += n;
        });
        INFO("level " << level << ", patch " << patch << ", overlap " << overlap << ": " << want.size() << " of "
                      << got.candidates << " kept");
        CHECK(checked == got.candidates);
        CHECK(!want.empty());
        CHECK((int64_t)want.size() < got.candidates);
        CHECK(got.windows == want);
      }
  std::filesystem::remove_all(dir);
}

TEST_CASE("a corrupt tile: the chunked scan judges the windows around it as one by one does", "[tissue]") {
  const std::string dir = temp_dir("purple_scan_bad");
  PyramidWriteOptions po;
  po.tile_size = 128;
  write_pyramid(dir + "/ok.tif", half_tissue(1024, 768, 9), po);
  std::string bytes = read_bytes(dir + "/ok.tif");
  TiffHandle h(dir + "/ok.tif");
  const TiffDir d = read_tiff_dirs(h)[0];
  const size_t tile = 8 + 2;  // column 2 of row 1: inside the tissue
  std::fill(bytes.begin() + (long)d.offsets[tile], bytes.begin() + (long)d.offsets[tile] + 4, '\0');
  write_bytes(dir + "/bad.tif", bytes);
  auto slide = Slide::open(dir + "/bad.tif");
  WindowOptions opt;
  opt.patch_size = 96;
  opt.overlap = 3.0;
  CHECK_THROWS_AS(select_windows(*slide, opt, 2), InputError);  // unreadable windows are errors by default
  opt.keep_unreadable = true;
  const std::vector<Window> want = one_by_one(*slide, opt);
  const std::vector<Window> got = select_windows(*slide, opt, 2).windows;
  CHECK(got == want);
  // The windows over the bad tile are kept unjudged; the scan judged the rest (some not kept).
  const auto over_bad = [](const Window& w) { return w.x < 384 && w.x + 96 > 256 && w.y < 256 && w.y + 96 > 128; };
  CHECK(std::count_if(want.begin(), want.end(), over_bad) > 0);
  CHECK((int64_t)want.size() < (int64_t)candidate_windows(*slide, read_geometry(*slide, opt), 3.0).size());
  std::filesystem::remove_all(dir);
}
