// Stain normalisation of 8-bit RGB windows: Reinhard et al. 2001 (each LAB channel's mean and
// standard deviation moved to the reference's), Macenko et al. 2009 and Vahadane et al. 2016
// (each image's two stain vectors, by SVD plane and angle percentiles or by sparse NMF, and its
// concentration scale estimated from its optical density, then the image redrawn with the
// reference's). A StainReference is fitted once (on a reference image, or on the
// training windows) and travels in the model file's metadata (weights/model.h, key "stain",
// docs/formats.md), so every command normalises as training did. The source side (the window's
// own statistics or stain vectors) is fitted either on each window alone (StainScope::window: the
// call needs nothing but the window) or once per slide on its tissue thumbnail (StainScope::slide,
// slide/windows/slide_stain.h), after which a window costs only the transform; the reference
// records which, so every command fits as training did.
#pragma once
#include <array>
#include <string>

#include "base/rgb_image.h"

namespace ds {

enum class StainMethod { none, reinhard, macenko, vahadane };

StainMethod parse_stain_method(const std::string& name);  // InputError on an unknown name
std::string stain_method_name(StainMethod m);

// Where the source side is fitted: on each window, or once per slide (`--stain-fit`).
enum class StainScope { window, slide };
StainScope parse_stain_fit(const std::string& name);  // InputError on an unknown name
std::string stain_fit_name(StainScope f);

// Macenko's constants, from the authors' reference code: light intensity Io, the optical-density
// threshold beta below which a pixel is background (in any channel), the angle percentile alpha.
constexpr double kMacenkoIo = 240.0;
constexpr double kMacenkoBeta = 0.15;
constexpr double kMacenkoAlpha = 1.0;
// A window with fewer tissue pixels than this (OD >= beta in every channel) is left as it is: its
// stain vectors cannot be estimated.
constexpr int kMacenkoMinTissue = 64;

struct StainReference {
  StainMethod method = StainMethod::none;
  std::array<double, 3> lab_mean{}, lab_std{};  // reinhard: per LAB channel (std: population)
  // macenko and vahadane: unit OD vectors, haematoxylin then eosin, and the 99th percentile of
  // each stain's concentration
  std::array<std::array<double, 3>, 2> stains{};
  std::array<double, 2> max_conc{};
  StainScope fit = StainScope::window;  // how the source side is fitted (metadata "fit", absent: window)
  // A slide's (StainScope::slide) background colour, its glass as the scanner saw it: normalize_stain
  // maps it to white before anything else, undoing a scanner's colour cast, which neither the
  // methods' fixed light intensity nor their statistics model. A reference's stays 255 (not stored).
  std::array<double, 3> white{255.0, 255.0, 255.0};
  bool operator==(const StainReference&) const = default;
};

// Every pixel's channel c scaled by 255 / white[c] (rounded, at most 255): the colour `white` becomes
// white. Nothing when white is 255 everywhere.
void white_balance(RgbImage& img, const std::array<double, 3>& white);

// A slide's own statistics (StainScope::slide) have the reference's form: `method` and the numbers
// fitted on the slide's tissue; method none when it had too little tissue to fit.
using SlideStain = StainReference;

// Fits the method's reference on an image (a reference image, or training windows side by side).
// InputError naming `where` when it has nothing to fit (no tissue for Macenko or Vahadane).
StainReference fit_stain_reference(StainMethod method, const RgbImage& img, const std::string& where);

// Fits the method on `img` as fit_stain_reference does; false (and `out` untouched) where that
// throws (too little tissue, a degenerate estimate).
bool try_fit_stain(StainMethod method, const RgbImage& img, StainReference& out);

// Normalises `img` in place to `ref` (nothing for StainMethod::none), fitting its source side on
// img itself. Thread-safe.
void normalize_stain(RgbImage& img, const StainReference& ref);
// The same from a source fitted beforehand (a slide's, `source.method == ref.method`): the slide's
// white balance (source.white), then only the transform. A source of another method (none: the
// slide had too little tissue) falls back to fitting img itself, after the white balance.
void normalize_stain(RgbImage& img, const StainReference& ref, const SlideStain& source);

// The metadata value (JSON) and its reader, which checks every number (InputError naming `where`).
std::string stain_reference_json(const StainReference& ref);
StainReference parse_stain_reference(const std::string& json, const std::string& where);
// One line for users: "macenko, H [..], E [..], max [..]" (or reinhard, vahadane).
std::string describe_stain_reference(const StainReference& ref);

}  // namespace ds
