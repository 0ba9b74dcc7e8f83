// Window geometry, tissue selection and window reads on top of Slide.
#include "slide/windows/slide_windows.h"

#include <algorithm>
#include <cmath>

#include "base/error.h"
#include "base/parallel.h"
#include "slide/reader/resize.h"
#include "slide/reader/thumbnail.h"

namespace ds {

TissueMethod parse_tissue_method(const std::string& name) {
  if (name == "purple") return TissueMethod::purple;
  if (name == "otsu") return TissueMethod::otsu;
  if (name == "none") return TissueMethod::none;
  throw InputError("unknown tissue method '" + name + "' (use purple, otsu or none)");
}

const char* tissue_method_name(TissueMethod m) {
  return m == TissueMethod::purple ? "purple" : m == TissueMethod::otsu ? "otsu" : "none";
}

int64_t ReadGeometry::level0_side() const { return (int64_t)std::llround(region * level_downsample); }

ReadGeometry read_geometry(const Slide& slide, const WindowOptions& opt) {
  DS_CHECK_INPUT(opt.patch_size > 0, "patch size must be positive");
  ReadGeometry g;
  g.patch = opt.patch_size;
  if (opt.mpp > 0) {
    if (!slide.mpp_x() || *slide.mpp_x() <= 0)
      throw InputError(slide.path(), "--mpp needs the slide's microns per pixel, which it does not record; use --level");
    const double base = *slide.mpp_x();
    const double want = opt.mpp / base;  // level-0 pixels per target pixel
    g.level = slide.best_level_for_downsample(want);
    g.level_downsample = slide.level(g.level).downsample;
    g.region = std::max(1, (int)std::lround(opt.patch_size * want / g.level_downsample));
  } else {
    if (opt.level < 0 || opt.level >= slide.level_count())
      throw InputError(slide.path(), "level " + std::to_string(opt.level) + " does not exist (the slide has " +
                                         std::to_string(slide.level_count()) + ")");
    g.level = opt.level;
    g.level_downsample = slide.level(g.level).downsample;
    g.region = opt.patch_size;
  }
  return g;
}

std::vector<Window> candidate_windows(const Slide& slide, const ReadGeometry& g, double overlap) {
  const SlideLevel& L = slide.level(g.level);
  std::vector<Window> w = window_grid({L.width, L.height, g.region, overlap});
  for (Window& v : w) {  // level pixels -> level-0 pixels
    v.x = (int64_t)std::llround(v.x * g.level_downsample);
    v.y = (int64_t)std::llround(v.y * g.level_downsample);
  }
  return w;
}

RgbImage read_window(const Slide& slide, const ReadGeometry& g, const Window& w, int decode_threads) {
  RgbImage img = slide.read_region(w.x, w.y, g.level, g.region, g.region, decode_threads);
  if (g.region != g.patch) img = resize_area(img, g.patch, g.patch);
  return img;
}

SlideWindows select_windows(const Slide& slide, const WindowOptions& opt, int threads,
                            const std::function<void(int64_t)>& on_checked) {
  SlideWindows out;
  out.geometry = read_geometry(slide, opt);
  std::vector<Window> cand = candidate_windows(slide, out.geometry, opt.overlap);
  out.candidates = (int64_t)cand.size();
  if (opt.tissue == TissueMethod::none) {
    if (on_checked) on_checked(out.candidates);
    out.windows = std::move(cand);
    return out;
  }
  std::vector<uint8_t> keep(cand.size(), 0);
  if (opt.tissue == TissueMethod::otsu) {
    Thumbnail th = read_thumbnail(slide, opt.otsu_thumbnail);
    TissueMask mask = otsu_tissue_mask(th.image, th.downsample);
    const int64_t side = out.geometry.level0_side();
    for (size_t i = 0; i < cand.size(); ++i)
      keep[i] = mask.tissue_fraction(cand[i].x, cand[i].y, side, side) >= opt.otsu_min_fraction;
    if (on_checked) on_checked(out.candidates);
  } else {
    const ReadGeometry g = out.geometry;
    parallel_for((int64_t)cand.size(), threads, [&](int64_t i) {
      try {
        keep[(size_t)i] = is_purple(read_window(slide, g, cand[(size_t)i], 1), opt.purple);
      } catch (const InputError&) {
        if (!opt.keep_unreadable) throw;
        keep[(size_t)i] = 1;  // tissue unknown; the reader of the window reports it
      }
      if (on_checked) on_checked(1);
    });
  }
  for (size_t i = 0; i < cand.size(); ++i)
    if (keep[i]) out.windows.push_back(cand[i]);
  return out;
}

}  // namespace ds
