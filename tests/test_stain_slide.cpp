// `--stain-fit slide` (slide/windows/slide_stain.h): a slide's stain fitted once on its tissue
// thumbnail equals the published algorithms' fit (NumPy, scikit-learn; scripts/gen_stain_fixtures.py)
// on the pixels OpenCV's Otsu mask keeps, white-balanced by the glass the mask leaves out; a
// scanner's colour cast is undone by it; windows normalised from it go through one fixed map per
// slide (so they differ from per-window fits); a slide without tissue falls back to per-window fits;
// the choice survives the metadata.
#include <catch2/catch.hpp>

#include <fstream>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "scratch_dir.h"
#include "slide/reader/image_io.h"
#include "slide/reader/slide.h"
#include "slide/reader/thumbnail.h"
#include "slide/windows/slide_stain.h"
#include "stain/stain_norm.h"
#include "stain/stain_shift.h"
#include "train/stain_fit.h"

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

  // The glass colour, and the fits on the tissue white-balanced by it.
  const TissueMask mask = otsu_tissue_mask(thumb, 1.0);
  for (int k = 0; k < 3; ++k) CHECK(background_colour(thumb, mask)[k] == c["white"][k].get<double>());
  const SlideStain mac = fit_slide_stain(*slide, per_slide(StainMethod::macenko));
  REQUIRE(mac.method == StainMethod::macenko);
  for (int k = 0; k < 3; ++k) CHECK(mac.white[k] == c["white"][k].get<double>());
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

TEST_CASE("the glass colour: medians of the background, white without enough of it; white balance") {
  RgbImage img(40, 30, 0);
  TissueMask mask;
  mask.width = 40, mask.height = 30;
  mask.on.assign(40 * 30, 0);
  for (int i = 0; i < 40 * 30; ++i) {
    uint8_t* p = img.pixels.data() + 3 * i;
    if (i % 3 == 0) {  // tissue: ignored however dark
      mask.on[i] = 1;
      p[0] = 90, p[1] = 20, p[2] = 140;
    } else {  // glass with a cast: red low, blue high, a few darker specks
      p[0] = i % 7 == 0 ? 200 : 231;
      p[1] = 244;
      p[2] = i % 11 == 0 ? 150 : 252;
    }
  }
  CHECK(background_colour(img, mask) == std::array<double, 3>{231, 244, 252});
  // Too little glass (under kMinBackgroundPixels), or glass too dark to be glass: no cast assumed.
  TissueMask mostly = mask;
  std::fill(mostly.on.begin(), mostly.on.begin() + 1000, 1);
  CHECK(background_colour(img, mostly) == std::array<double, 3>{255, 255, 255});
  RgbImage dark = img;
  for (size_t i = 0; i < dark.pixels.size(); i += 3) dark.pixels[i] = 100;
  CHECK(background_colour(dark, mask) == std::array<double, 3>{255, 255, 255});
  // The balance: the glass becomes white, the rest scales with it, nothing past 255.
  RgbImage px(3, 1, 0);
  const uint8_t v[9] = {231, 244, 252, 115, 122, 126, 255, 255, 255};
  std::copy(v, v + 9, px.pixels.begin());
  white_balance(px, {231, 244, 252});
  CHECK(px.pixels == std::vector<uint8_t>{255, 255, 255, 127, 128, 128, 255, 255, 255});  // 127.5: to even
}

TEST_CASE("a scanner's colour cast: the slide's glass balances it out before the stain transform") {
  const RgbImage slide_img = load_image(kDir + "slide.png");
  RgbImage cast = slide_img;  // the same slide, scanned with red weaker and blue stronger
  for (size_t i = 0; i < cast.pixels.size(); i += 3) {
    cast.pixels[i] = (uint8_t)std::lround(cast.pixels[i] * 0.92);
    cast.pixels[i + 2] = (uint8_t)std::min(255L, std::lround(cast.pixels[i + 2] * 1.03));
  }
  const RgbImage a = crop(slide_img, 30, 30, 64, 64), ac = crop(cast, 30, 30, 64, 64);
  for (StainMethod m : {StainMethod::reinhard, StainMethod::macenko, StainMethod::vahadane}) {
    INFO(stain_method_name(m));
    const StainReference ref = per_slide(m);
    const SlideStain s0 = fit_thumbnail_stain(slide_img, ref), s1 = fit_thumbnail_stain(cast, ref);
    REQUIRE(s1.method == m);
    CHECK(s1.white[0] < s0.white[0]);
    CHECK(s1.white[2] >= s0.white[2]);
    RgbImage n0 = a, n1 = ac, unbalanced = ac;
    normalize_stain(n0, ref, s0);
    normalize_stain(n1, ref, s1);
    SlideStain no_balance = s1;  // the same fit without the balance: the cast stays in the output
    no_balance.white = {255, 255, 255};
    normalize_stain(unbalanced, ref, no_balance);
    double balanced_err = 0, cast_err = 0;
    for (size_t i = 0; i < n0.pixels.size(); ++i) {
      balanced_err += std::abs((int)n1.pixels[i] - (int)n0.pixels[i]);
      cast_err += std::abs((int)unbalanced.pixels[i] - (int)n0.pixels[i]);
    }
    balanced_err /= (double)n0.pixels.size(), cast_err /= (double)n0.pixels.size();
    INFO("mean |difference| from the uncast slide's windows: balanced " << balanced_err << ", not " << cast_err);
    CHECK(balanced_err < 2.0);
    CHECK(balanced_err < 0.5 * cast_err);
  }
}

TEST_CASE("training's reference is fitted on windows balanced by their slides' glass") {
  // The fixture slide, and a copy scanned with a colour cast, each a one-slide training set of
  // 32-px windows over its tissue.
  const RgbImage plain = load_image(kDir + "slide.png");
  RgbImage cast = plain;
  for (size_t i = 0; i < cast.pixels.size(); i += 3) {
    cast.pixels[i] = (uint8_t)std::lround(cast.pixels[i] * 0.9);
    cast.pixels[i + 1] = (uint8_t)std::lround(cast.pixels[i + 1] * 0.97);
  }
  const std::string castf = (test::scratch_dir("stain_ref") / "cast.png").string();
  save_png(castf, cast);
  auto dataset = [&](const std::string& path) {
    Dataset d;
    d.patch_size = 32;
    d.slides.push_back(Slide::open(path));
    d.slide_paths.push_back(path);
    d.geometry.push_back(ReadGeometry{0, 1.0, 32, 32});
    for (int y = 20; y + 32 <= 120; y += 16)
      for (int x = 30; x + 32 <= 150; x += 16) {
        Sample s;
        s.slide = 0;
        s.window.x = x, s.window.y = y;
        d.train.push_back(s);
      }
    return d;
  };
  const Dataset dp = dataset(kDir + "slide.png"), dc = dataset(castf);
  StainReference scope;
  scope.method = StainMethod::macenko;
  scope.fit = StainScope::slide;
  const std::vector<SlideStain> sp = fit_dataset_slide_stains(dp, scope, 1);
  const std::vector<SlideStain> sc = fit_dataset_slide_stains(dc, scope, 1);
  REQUIRE(sc.size() == 1);
  CHECK(sc[0].white[0] < sp[0].white[0]);
  const StainReference want = fit_training_stain(dp, StainMethod::macenko, "", 1, sp).ref;
  const StainReference balanced = fit_training_stain(dc, StainMethod::macenko, "", 1, sc).ref;
  const StainReference raw = fit_training_stain(dc, StainMethod::macenko, "", 1).ref;
  auto distance = [&](const StainReference& r) {
    double e = 0;
    for (int s = 0; s < 2; ++s)
      for (int k = 0; k < 3; ++k) e += std::fabs(r.stains[s][k] - want.stains[s][k]);
    return e;
  };
  INFO("stain-vector distance from the uncast slide's reference: balanced " << distance(balanced) << ", raw "
                                                                            << distance(raw));
  CHECK(distance(balanced) < 0.02);
  CHECK(distance(balanced) < 0.25 * distance(raw));
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
