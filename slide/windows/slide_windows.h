// The windows of one slide: where the sliding window goes (DeepSlide's grid at a pyramid level,
// or at a target microns-per-pixel so one model serves 20x and 40x scans), which windows hold
// tissue (purple filter, Otsu mask or none), and reading a window's pixels. Windows are
// coordinates; nothing is written to disk. The grid is walked in bands (kWindowBand windows),
// never listed whole, so memory follows the tissue windows kept, not the size a slide declares.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "slide/reader/image_io.h"
#include "slide/reader/slide.h"
#include "slide/windows/tissue_filter.h"
#include "slide/windows/window_grid.h"

namespace ds {

enum class TissueMethod { purple, otsu, none };
TissueMethod parse_tissue_method(const std::string& name);  // InputError on unknown names
const char* tissue_method_name(TissueMethod m);

struct WindowOptions {
  int patch_size = 224;  // side of the patch the model sees
  double overlap = 3.0;  // DeepSlide's inverse overlap factor
  int level = 0;         // pyramid level to read at (ignored when mpp > 0)
  double mpp = 0.0;      // > 0: target microns per pixel; picks the level and scales the window
  TissueMethod tissue = TissueMethod::purple;
  PurpleParams purple;
  double otsu_min_fraction = 0.5;  // share of the window that must be tissue in the Otsu mask
  int otsu_thumbnail = 2048;       // longer side of the image the Otsu mask is computed on
  // Purple filter: a window whose read fails (corrupt tile, truncated file) is kept, its tissue
  // unknown, instead of stopping with the error; `deepslide train` then counts, lists and skips
  // it when it reads it (see train/loader.h). Off: the read error propagates.
  bool keep_unreadable = false;
  // A level-based bundle's resolution check: the range of microns per pixel its validation slides
  // were read at (0: not recorded). A level is another resolution on each scanner's pyramid, so
  // read_geometry refuses a slide whose resolution at `level` lies outside this range by more than
  // kResolutionTolerance: the model would see tissue at a scale it was never validated on.
  double level_mpp_min = 0.0, level_mpp_max = 0.0;
};

// How far a slide's resolution may lie outside a bundle's validated range, as a factor either way
// (below min / 1.25 or above max * 1.25 is refused): scanners' "40x" differ by up to ~15%
// (0.23-0.26 um/px), a 20x scan read as 40x by a factor of 2.
constexpr double kResolutionTolerance = 1.25;
// The validated range as messages show it: "0.5" or "0.25-0.262" (3 significant digits).
std::string validated_mpp_text(const WindowOptions& w);

// How windows are read: a `region` x `region` square at `level`, resized to patch x patch.
struct ReadGeometry {
  int level = 0;
  double level_downsample = 1.0;
  int region = 224;
  int patch = 224;
  int64_t level0_side() const;  // the window's side in level-0 pixels
};

ReadGeometry read_geometry(const Slide& slide, const WindowOptions& opt);

// Microns per pixel of the patches read with g (the slide's resolution at g's level, times the
// resize to the patch), or nothing when the slide records no resolution or one no slide scanner
// writes: level 0 outside kPlausibleMpp (a TIFF's placeholder 72 dpi reads as 352.8 um/px,
// libvips' 10 px/cm as 1000), which would otherwise stretch a bundle's range or fail its check.
std::optional<double> read_mpp(const Slide& slide, const ReadGeometry& g);
constexpr double kPlausibleMppMin = 0.02, kPlausibleMppMax = 20.0;
// A plausible read_mpp: level 0's plausible range, read at a level up to 500 times coarser (the
// coarsest levels scanners write are ~256x). A recorded range outside it (a hand-edited
// aggregator.json or bundle) would switch the check off (a maximum of 1e308) or refuse every slide.
constexpr double kPlausibleReadMppMax = kPlausibleMppMax * 500;
inline bool plausible_read_mpp(double v) { return v >= kPlausibleMppMin && v <= kPlausibleReadMppMax; }
// "0.02..10000": that range as the errors quote it.
std::string plausible_read_mpp_text();

// Grid windows over the read level, in level-0 coordinates, before tissue filtering, by index.
struct CandidateGrid {
  WindowGrid grid;  // in the read level's pixels
  double level_downsample = 1.0;
  int64_t size() const { return grid.size(); }
  Window at(int64_t i) const;  // level-0 top-left corner
};
CandidateGrid candidate_grid(const Slide& slide, const ReadGeometry& g, double overlap);
// Every window of candidate_grid(), listed (small grids, tests).
std::vector<Window> candidate_windows(const Slide& slide, const ReadGeometry& g, double overlap);
RgbImage read_window(const Slide& slide, const ReadGeometry& g, const Window& w, int decode_threads = 1);

struct SlideWindows {
  ReadGeometry geometry;
  std::vector<Window> windows;  // windows with tissue, in grid order (rows outer)
  int64_t candidates = 0;       // grid windows examined
};

// Grid windows examined per band: memory for candidates stays at a band's worth (1 MB) whatever
// size the slide declares.
constexpr int64_t kWindowBand = 1 << 16;

// Selects the tissue windows of a slide band by band, in grid order: on_band receives each
// band's tissue windows (possibly none) as soon as the band is examined. Returns the geometry and
// the number of grid windows examined (`windows` left empty). threads > 0: parallel over windows.
// on_checked, when given, is called with the number of candidates just examined (from any
// thread; it may throw to stop the scan), so a caller can show progress of a scan that reads
// every candidate.
SlideWindows scan_tissue_windows(const Slide& slide, const WindowOptions& opt, int threads,
                                 const std::function<void(std::vector<Window>& band)>& on_band,
                                 const std::function<void(int64_t)>& on_checked = nullptr);
// Selects the tissue windows of a slide (threads > 0: parallel over windows): the bands of
// scan_tissue_windows() gathered.
SlideWindows select_windows(const Slide& slide, const WindowOptions& opt, int threads = 0,
                            const std::function<void(int64_t)>& on_checked = nullptr);

}  // namespace ds
