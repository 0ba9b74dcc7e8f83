// Window geometry, tissue selection and window reads on top of Slide.
#include "slide/windows/slide_windows.h"

#include <algorithm>
#include <cmath>

#include "base/error.h"
#include "base/format.h"
#include "base/parallel.h"
#include "slide/reader/resize.h"
#include "slide/reader/thumbnail.h"
#include "slide/windows/purple_scan.h"

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

namespace {

std::string um_text(double v) { return format_number("%.3g", v); }

}  // namespace

std::string validated_mpp_text(const WindowOptions& w) {
  const std::string lo = um_text(w.level_mpp_min), hi = um_text(w.level_mpp_max);
  return lo == hi ? lo : lo + "-" + hi;
}

namespace {

// The level-based recipe's resolution check (WindowOptions::level_mpp_min): a slide that records
// its resolution and lies outside the validated range is refused, naming both and the way out.
void check_validated_resolution(const Slide& slide, const WindowOptions& opt, const ReadGeometry& g) {
  if (!(opt.level_mpp_min > 0) || !(opt.level_mpp_max >= opt.level_mpp_min)) return;
  const std::optional<double> mpp = read_mpp(slide, g);
  if (!mpp) return;  // nothing to compare: read as the recipe says
  if (*mpp * kResolutionTolerance >= opt.level_mpp_min && *mpp <= opt.level_mpp_max * kResolutionTolerance) return;
  const std::string range = validated_mpp_text(opt);
  throw InputError(slide.path(), "at level " + std::to_string(g.level) + " it is " + um_text(*mpp) +
                                     " um/px, but the bundle was validated on slides read at " + range +
                                     " um/px (another scanner or magnification): --mpp " + um_text(opt.level_mpp_min) +
                                     " reads every slide at that resolution (for diagnose: make the bundle with it)");
}

}  // namespace

ReadGeometry read_geometry(const Slide& slide, const WindowOptions& opt) {
  DS_CHECK_INPUT(opt.patch_size > 0, "patch size must be positive");
  ReadGeometry g;
  g.patch = opt.patch_size;
  if (opt.mpp > 0) {
    if (!slide.mpp_x() || *slide.mpp_x() <= 0)
      throw InputError(slide.path(),
                       "windows placed by microns per pixel (--mpp, or a bundle made with --mpp) need the slide's, "
                       "which it does not record; use --level (for a bundle: make it with --level)");
    const double base = *slide.mpp_x();
    const double want = opt.mpp / base;  // level-0 pixels per target pixel
    g.level = slide.best_level_for_downsample(want);
    g.level_downsample = slide.level(g.level).downsample;
    g.region = std::max(1, (int)std::lround(opt.patch_size * want / g.level_downsample));
  } else {
    if (opt.level < 0 || opt.level >= slide.level_count())
      throw InputError(slide.path(), "level " + std::to_string(opt.level) + " does not exist (the slide has " +
                                         std::to_string(slide.level_count()) +
                                         "); a level means another resolution on each scanner's pyramid: --mpp "
                                         "reads every slide at one (for a bundle: make it with --mpp)");
    g.level = opt.level;
    g.level_downsample = slide.level(g.level).downsample;
    g.region = opt.patch_size;
    check_validated_resolution(slide, opt, g);
  }
  return g;
}

std::string plausible_read_mpp_text() {
  return format_number("%g", kPlausibleMppMin) + ".." + format_number("%g", kPlausibleReadMppMax);
}

std::optional<double> read_mpp(const Slide& slide, const ReadGeometry& g) {
  if (!slide.mpp_x() || !(*slide.mpp_x() >= kPlausibleMppMin && *slide.mpp_x() <= kPlausibleMppMax))
    return std::nullopt;
  return *slide.mpp_x() * g.level_downsample * g.region / g.patch;
}

Window CandidateGrid::at(int64_t i) const {  // level pixels -> level-0 pixels
  const Window w = grid.at(i);
  return {(int64_t)std::llround(w.x * level_downsample), (int64_t)std::llround(w.y * level_downsample)};
}

CandidateGrid candidate_grid(const Slide& slide, const ReadGeometry& g, double overlap) {
  const SlideLevel& L = slide.level(g.level);
  return {WindowGrid({L.width, L.height, g.region, overlap}), g.level_downsample};
}

std::vector<Window> candidate_windows(const Slide& slide, const ReadGeometry& g, double overlap) {
  const CandidateGrid grid = candidate_grid(slide, g, overlap);
  std::vector<Window> w;
  w.reserve((size_t)grid.size());
  for (int64_t i = 0; i < grid.size(); ++i) w.push_back(grid.at(i));
  return w;
}

RgbImage read_window(const Slide& slide, const ReadGeometry& g, const Window& w, int decode_threads) {
  RgbImage img = slide.read_region(w.x, w.y, g.level, g.region, g.region, decode_threads);
  if (g.region != g.patch) img = resize_area(img, g.patch, g.patch);
  return img;
}

namespace {

// Whether a candidate window holds tissue, by opt.tissue (none: always). The Otsu test reads the
// thumbnail once, into `mask`, which must outlive the test.
std::function<bool(const Window&)> tissue_test(const Slide& slide, const ReadGeometry& g, const WindowOptions& opt,
                                               TissueMask& mask) {
  if (opt.tissue == TissueMethod::none) return [](const Window&) { return true; };
  if (opt.tissue == TissueMethod::otsu) {
    Thumbnail th = read_thumbnail(slide, opt.otsu_thumbnail);
    mask = otsu_tissue_mask(th.image, th.downsample);
    const int64_t side = g.level0_side();
    const double min_fraction = opt.otsu_min_fraction;
    return [&mask, side, min_fraction](const Window& w) {
      return mask.tissue_fraction(w.x, w.y, side, side) >= min_fraction;
    };
  }
  return [&slide, g, opt](const Window& w) {
    try {
      return is_purple(read_window(slide, g, w, 1), opt.purple);
    } catch (const InputError&) {
      if (!opt.keep_unreadable) throw;
      return true;  // tissue unknown; the reader of the window reports it
    }
  };
}

}  // namespace

SlideWindows scan_tissue_windows(const Slide& slide, const WindowOptions& opt, int threads,
                                 const std::function<void(std::vector<Window>& band)>& on_band,
                                 const std::function<void(int64_t)>& on_checked) {
  SlideWindows out;
  out.geometry = read_geometry(slide, opt);
  const CandidateGrid grid = candidate_grid(slide, out.geometry, opt.overlap);
  if (grid.size() == 0) return out;
  TissueMask mask;
  const std::function<bool(const Window&)> tissue = tissue_test(slide, out.geometry, opt, mask);
  std::vector<Window> cand;
  std::vector<uint8_t> keep;
  std::vector<Window> kept;
  for (int64_t b0 = 0; b0 < grid.size(); b0 += kWindowBand) {
    const int64_t n = std::min(kWindowBand, grid.size() - b0);
    cand.resize((size_t)n);
    keep.assign((size_t)n, 0);
    for (int64_t i = 0; i < n; ++i) cand[(size_t)i] = grid.at(b0 + i);
    // The purple filter reads windows: chunks of neighbours at a time where it can (progress per
    // chunk), else each window (progress per window). The other tests cost a few mask pixels at
    // most, so threads take 1024 windows at a time.
    const bool purple = opt.tissue == TissueMethod::purple;
    if (purple && chunked_purple_applies(out.geometry)) {
      chunked_purple_band(slide, out.geometry, grid, b0, n, opt.purple, threads, keep, tissue, on_checked);
    } else {
      const int64_t grain = purple ? 1 : 1024;
      parallel_for((n + grain - 1) / grain, threads, [&](int64_t c) {
        for (int64_t i = c * grain; i < std::min(n, (c + 1) * grain); ++i) {
          keep[(size_t)i] = tissue(cand[(size_t)i]);
          if (purple && on_checked) on_checked(1);
        }
      });
      if (on_checked && !purple) on_checked(n);
    }
    kept.clear();
    for (int64_t i = 0; i < n; ++i)
      if (keep[(size_t)i]) kept.push_back(cand[(size_t)i]);
    out.candidates += n;
    on_band(kept);
  }
  return out;
}

SlideWindows select_windows(const Slide& slide, const WindowOptions& opt, int threads,
                            const std::function<void(int64_t)>& on_checked) {
  std::vector<Window> all;
  SlideWindows out = scan_tissue_windows(
      slide, opt, threads, [&](std::vector<Window>& band) { all.insert(all.end(), band.begin(), band.end()); },
      on_checked);
  out.windows = std::move(all);
  return out;
}

}  // namespace ds
