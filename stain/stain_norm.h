// Stain normalisation of 8-bit RGB windows: Reinhard et al. 2001 (each LAB channel's mean and
// standard deviation moved to the reference's), Macenko et al. 2009 and Vahadane et al. 2016
// (each image's two stain vectors, by SVD plane and angle percentiles or by sparse NMF, and its
// concentration scale estimated from its optical density, then the image redrawn with the
// reference's). A StainReference is fitted once (on a reference image, or on the
// training windows) and travels in the model file's metadata (weights/model.h, key "stain",
// docs/formats.md), so every command normalises as training did. Applying it fits each window
// on its own (the source side of both methods), so it needs nothing but the window: the same
// call serves the loader threads of train and the reader threads of predict.
#pragma once
#include <array>
#include <string>

#include "base/rgb_image.h"

namespace ds {

enum class StainMethod { none, reinhard, macenko, vahadane };

StainMethod parse_stain_method(const std::string& name);  // InputError on an unknown name
std::string stain_method_name(StainMethod m);

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
  bool operator==(const StainReference&) const = default;
};

// Fits the method's reference on an image (a reference image, or training windows side by side).
// InputError naming `where` when it has nothing to fit (no tissue for Macenko or Vahadane).
StainReference fit_stain_reference(StainMethod method, const RgbImage& img, const std::string& where);

// Normalises `img` in place to `ref` (nothing for StainMethod::none). Thread-safe.
void normalize_stain(RgbImage& img, const StainReference& ref);

// The metadata value (JSON) and its reader, which checks every number (InputError naming `where`).
std::string stain_reference_json(const StainReference& ref);
StainReference parse_stain_reference(const std::string& json, const std::string& where);
// One line for users: "macenko, H [..], E [..], max [..]" (or reinhard, vahadane).
std::string describe_stain_reference(const StainReference& ref);

}  // namespace ds
