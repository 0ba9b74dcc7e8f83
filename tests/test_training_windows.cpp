// Class-balanced training windows on synthetic slides: per-class overlap, thinning to the target,
// oversampling of the smaller class, and blank slides listed and skipped instead of crashing.
#include <catch2/catch.hpp>

#include <unistd.h>
#include <filesystem>

#include "base/error.h"
#include "slide/reader/image_io.h"
#include "slide/reader/slide.h"
#include "slide/reader/thumbnail.h"
#include "slide/synth/synth_tissue.h"
#include "slide/windows/training_windows.h"

using namespace ds;
namespace fs = std::filesystem;

static std::string write_png_slide(const fs::path& dir, const std::string& name, int w, int h, int cls, uint64_t seed) {
  RgbImage img(w, h);
  if (cls >= 0) SynthTissue(w, h, cls, seed).render(0, 0, img);
  std::string p = (dir / name).string();
  save_png(p, img);
  return p;
}

TEST_CASE("training windows are balanced across classes") {
  fs::path dir = fs::temp_directory_path() / ("ds_tw_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::vector<std::unique_ptr<Slide>> owned;
  owned.push_back(Slide::open(write_png_slide(dir, "a0.png", 900, 800, 1, 1)));
  owned.push_back(Slide::open(write_png_slide(dir, "a1.png", 900, 800, 1, 2)));
  owned.push_back(Slide::open(write_png_slide(dir, "b0.png", 500, 400, 2, 3)));
  owned.push_back(Slide::open(write_png_slide(dir, "blank.png", 400, 400, -1, 0)));
  std::vector<const Slide*> slides;
  for (auto& s : owned) slides.push_back(s.get());
  std::vector<int> labels = {0, 0, 1, 1};
  WindowOptions opt;
  opt.patch_size = 96;
  BalanceOptions bal;
  bal.num_per_class = 60;
  TrainingWindows tw = balanced_training_windows(slides, labels, {"a", "b"}, opt, bal, 2);
  REQUIRE(tw.classes.size() == 2);
  INFO("a found " << tw.classes[0].found << " at overlap " << tw.classes[0].overlap << "; b found "
                  << tw.classes[1].found << " at overlap " << tw.classes[1].overlap);
  CHECK(tw.classes[1].overlap > tw.classes[0].overlap);  // the smaller class slides finer
  CHECK(tw.classes[0].after_balance == tw.classes[1].after_balance);
  CHECK(tw.classes[0].after_balance <= 60);
  int64_t na = 0, nb = 0;
  for (const auto& s : tw.samples) {
    (s.label == 0 ? na : nb)++;
    CHECK(s.slide != 3);  // nothing from the blank slide
    CHECK(labels[(size_t)s.slide] == s.label);
  }
  CHECK(na == nb);
  REQUIRE(tw.skipped.size() == 1);
  CHECK(tw.skipped[0].find("blank.png") != std::string::npos);

  // Validation-style windows at one overlap, no balancing.
  opt.overlap = 1.5;
  TrainingWindows pw = plain_windows(slides, labels, {"a", "b"}, opt, 2);
  CHECK(pw.classes[0].found > 0);
  CHECK(pw.skipped.size() == 1);

  // A class whose every slide is blank is an error naming the class.
  std::vector<const Slide*> only_blank = {slides[0], slides[3]};
  REQUIRE_THROWS_WITH(balanced_training_windows(only_blank, {0, 1}, {"a", "b"}, opt, bal, 2),
                      Catch::Contains("class 'b'"));
  fs::remove_all(dir);
}

// The grid is walked in bands of kWindowBand windows; what comes out must be what filtering the
// whole listed grid gives, in the same order, for every tissue filter.
TEST_CASE("banded window selection equals the listed grid, filtered") {
  fs::path dir = fs::temp_directory_path() / ("ds_band_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  auto slide = Slide::open(write_png_slide(dir, "big.png", 2000, 1500, 1, 7));
  WindowOptions opt;
  opt.patch_size = 16;
  opt.overlap = 3.0;
  const ReadGeometry g = read_geometry(*slide, opt);
  const std::vector<Window> cand = candidate_windows(*slide, g, opt.overlap);
  REQUIRE((int64_t)cand.size() > kWindowBand);  // more than one band
  const CandidateGrid grid = candidate_grid(*slide, g, opt.overlap);
  REQUIRE(grid.size() == (int64_t)cand.size());
  CHECK(window_grid({2000, 1500, 16, 3.0}).size() == cand.size());
  for (TissueMethod m : {TissueMethod::purple, TissueMethod::otsu, TissueMethod::none}) {
    opt.tissue = m;
    std::vector<Window> want;
    if (m == TissueMethod::otsu) {
      const Thumbnail th = read_thumbnail(*slide, opt.otsu_thumbnail);
      const TissueMask mask = otsu_tissue_mask(th.image, th.downsample);
      for (const Window& w : cand)
        if (mask.tissue_fraction(w.x, w.y, g.level0_side(), g.level0_side()) >= opt.otsu_min_fraction)
          want.push_back(w);
    } else {
      for (const Window& w : cand)
        if (m == TissueMethod::none || is_purple(read_window(*slide, g, w), opt.purple)) want.push_back(w);
    }
    int bands = 0;
    int64_t checked = 0;
    std::vector<Window> got;
    const SlideWindows sw = scan_tissue_windows(
        *slide, opt, 2,
        [&](std::vector<Window>& band) {
          ++bands;
          got.insert(got.end(), band.begin(), band.end());
        },
        [&](int64_t n) {
#pragma omp atomic
          checked += n;
        });
    INFO("tissue filter " << tissue_method_name(m) << ": " << want.size() << " of " << cand.size());
    CHECK(sw.candidates == (int64_t)cand.size());
    CHECK(checked == (int64_t)cand.size());
    CHECK(bands == (int)((cand.size() + kWindowBand - 1) / kWindowBand));
    CHECK(got == want);
    CHECK(select_windows(*slide, opt, 2).windows == want);
  }
  fs::remove_all(dir);
}

TEST_CASE("memory exhausted by a file is an input error naming it") {
  try {
    with_file_oom_as_input_error("slides/huge.tif", []() -> int { throw std::bad_alloc(); });
    FAIL("no exception");
  } catch (const InputError& e) {
    CHECK(std::string(e.what()).rfind("slides/huge.tif: out of memory", 0) == 0);
  }
  CHECK(naming_file("a.tif", "a.tif: truncated") == "a.tif: truncated");
  CHECK(naming_file("a.tif", "level 9 does not exist") == "a.tif: level 9 does not exist");
}
