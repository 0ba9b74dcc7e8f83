// `--stain-fit slide` (slide/windows/slide_stain.h): a slide's stain fitted once on its tissue
// thumbnail equals the published algorithms' fit (NumPy, scikit-learn; scripts/gen_stain_fixtures.py)
// on the pixels OpenCV's Otsu mask keeps; windows normalised from it go through one fixed map per
// slide (so they differ from per-window fits); a slide without tissue falls back to per-window fits;
// the choice survives the metadata.
#include <catch2/catch.hpp>

#include <fstream>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "slide/reader/image_io.h"
#include "slide/reader/slide.h"
#include "slide/reader/thumbnail.h"
#include "slide/windows/slide_stain.h"
#include "stain/stain_norm.h"
#include "stain/stain_shift.h"

using namespace ds;

namespace {

const std::string kDir = std::string(DS_FIXTURES) + "/stain/";

nlohmann::json slide_case() {
  std::ifstream in(kDir + "slide.json");
  REQUIRE(in.good());
  return nlohmann::json::parse(in);
}

StainReference per_slide(StainMethod m) {
  StainReference r = fit_stain_reference(m, load_image(kDir + "src_1.png"), "src_1.png");
  r.fit = StainScope::slide;
  return r;
}

RgbImage crop(const RgbImage& img, int x0, int y0, int w, int h) {
  RgbImage out(w, h);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w * 3; ++x) out.row(y)[x] = img.row(y0 + y)[x0 * 3 + x];
  return out;
}

// Two windows side by side, one image.
RgbImage beside(const RgbImage& a, const RgbImage& b) {
  REQUIRE(a.height == b.height);
  RgbImage out(a.width + b.width, a.height);
  for (int y = 0; y < a.height; ++y) {
    std::copy(a.row(y), a.row(y) + a.width * 3, out.row(y));
    std::copy(b.row(y), b.row(y) + b.width * 3, out.row(y) + a.width * 3);
  }
  return out;
}

}  // namespace

TEST_CASE("a slide's stain fitted on its tissue thumbnail is the oracle's fit of the same pixels") {
  const auto c = slide_case();
  const std::string path = kDir + c["file"].get<std::string>();
  const auto slide = Slide::open(path);
  const RgbImage thumb = read_thumbnail(*slide, kStainThumbnail).image;
  REQUIRE(thumb.pixels == load_image(path).pixels);  // smaller than the thumbnail: the image itself
  const RgbImage tissue = masked_pixels(thumb, otsu_tissue_mask(thumb, 1.0));
  CHECK(tissue.width == c["tissue_pixels"].get<int>());  // OpenCV's mask, pixel for pixel in count

  const SlideStain mac = fit_slide_stain(*slide, per_slide(StainMethod::macenko));
  REQUIRE(mac.method == StainMethod::macenko);
  for (int s = 0; s < 2; ++s) {
    for (int k = 0; k < 3; ++k) CHECK(mac.stains[s][k] == Approx(c["stains"][s][k].get<double>()).margin(1e-3));
    CHECK(mac.max_conc[s] == Approx(c["max_conc"][s].get<double>()).margin(1e-3));
  }
  // Vahadane: the tolerance of tests/test_stain.cpp's comparison with scikit-learn.
  const SlideStain vah = fit_slide_stain(*slide, per_slide(StainMethod::vahadane));
  REQUIRE(vah.method == StainMethod::vahadane);
  for (int s = 0; s < 2; ++s) {
    for (int k = 0; k < 3; ++k)
      CHECK(vah.stains[s][k] == Approx(c["vahadane_stains"][s][k].get<double>()).margin(2e-3));
    CHECK(vah.max_conc[s] == Approx(c["vahadane_max_conc"][s].get<double>()).margin(1e-2));
  }
  const SlideStain rei = fit_slide_stain(*slide, per_slide(StainMethod::reinhard));
  REQUIRE(rei.method == StainMethod::reinhard);
  for (int k = 0; k < 3; ++k) {
    CHECK(rei.lab_mean[k] == Approx(c["lab_mean"][k].get<double>()).margin(1e-3));
    CHECK(rei.lab_std[k] == Approx(c["lab_std"][k].get<double>()).margin(1e-3));
  }
  // A reference fitted per window asks for no slide fit.
  StainReference window = per_slide(StainMethod::macenko);
  window.fit = StainScope::window;
  CHECK(fit_slide_stain(*slide, window).method == StainMethod::none);
}

TEST_CASE("per-slide normalisation is one map per slide; per-window fits differ from it") {
  const RgbImage slide_img = load_image(kDir + "slide.png");
  RgbImage shifted = slide_img;
  shift_stain(shifted, 1.0);  // another lab's stain, so normalising has something to undo
  const RgbImage a = crop(shifted, 30, 30, 64, 64), b = crop(shifted, 100, 50, 64, 64);
  for (StainMethod m : {StainMethod::reinhard, StainMethod::macenko, StainMethod::vahadane}) {
    INFO(stain_method_name(m));
    const StainReference ref = per_slide(m);
    const SlideStain src = fit_thumbnail_stain(shifted, ref);
    REQUIRE(src.method == m);
    // Each pixel's output depends on its value alone: two windows apart or side by side agree.
    RgbImage na = a, nb = b, both = beside(a, b);
    normalize_stain(na, ref, src);
    normalize_stain(nb, ref, src);
    normalize_stain(both, ref, src);
    CHECK(both.pixels == beside(na, nb).pixels);
    // Fitting each window alone gives other pixels, and not a pointwise map.
    RgbImage wa = a, wboth = beside(a, b);
    normalize_stain(wa, ref);
    normalize_stain(wboth, ref);
    CHECK(wa.pixels != na.pixels);
    CHECK(wboth.pixels != both.pixels);
  }
}

TEST_CASE("a slide with too little tissue is normalised window by window") {
  RgbImage glass(120, 90, 236);
  for (StainMethod m : {StainMethod::reinhard, StainMethod::macenko, StainMethod::vahadane}) {
    INFO(stain_method_name(m));
    const StainReference ref = per_slide(m);
    CHECK(fit_thumbnail_stain(glass, ref).method == StainMethod::none);
    const RgbImage tissue = load_image(kDir + "src_0.png");
    RgbImage by_slide = tissue, by_window = tissue;
    normalize_stain(by_slide, ref, SlideStain{});
    normalize_stain(by_window, ref);
    CHECK(by_slide.pixels == by_window.pixels);
    CHECK(by_slide.pixels != tissue.pixels);
  }
}

TEST_CASE("the fit scope survives the metadata; a bad one is refused") {
  for (StainMethod m : {StainMethod::reinhard, StainMethod::macenko, StainMethod::vahadane}) {
    const StainReference r = per_slide(m);
    const std::string j = stain_reference_json(r);
    CHECK(j.find("\"fit\":\"slide\"") != std::string::npos);
    CHECK(parse_stain_reference(j, "m.safetensors") == r);
    CHECK(describe_stain_reference(r).find("per slide") != std::string::npos);
    StainReference w = r;
    w.fit = StainScope::window;
    CHECK(stain_reference_json(w).find("fit") == std::string::npos);  // as before the choice existed
    CHECK(parse_stain_reference(stain_reference_json(w), "m.safetensors") == w);
  }
  for (const char* bad : {R"({"method":"macenko","fit":"tile","stains":[[1,0,0],[0,1,0]],"max_conc":[1,1]})",
                          R"({"method":"macenko","fit":1,"stains":[[1,0,0],[0,1,0]],"max_conc":[1,1]})"}) {
    INFO(bad);
    CHECK_THROWS_AS(parse_stain_reference(bad, "m.safetensors"), InputError);
  }
  CHECK_THROWS_AS(parse_stain_fit("tile"), InputError);
  CHECK(parse_stain_fit("slide") == StainScope::slide);
}
