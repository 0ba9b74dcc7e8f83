// The stain reference of a training run (`train --stain-norm`): fitted on `--stain-ref IMAGE`, or,
// without one, on up to kStainFitWindows training windows taken evenly from the training list
// (the same deterministic spacing as the mean/std sample, train/norm_stats.h) and laid side by
// side, so the reference is the training set's typical stain. The model stores it
// (weights/model.h), and every command that loads the model normalises with it.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "stain/stain_norm.h"
#include "train/dataset.h"

namespace ds {

// 64 windows of 224 px are 3.2 M pixels: percentiles over them take tens of milliseconds, and more
// windows moved the fitted vectors by less than 1e-3 on the synthetic demo slides.
constexpr int64_t kStainFitWindows = 64;

struct StainFit {
  StainReference ref;
  int64_t windows = 0;  // training windows the fit used (0 with a reference image)
  // Sampled windows whose read failed (index into data.train, the error); left out of the fit.
  std::vector<std::pair<int64_t, std::string>> failed;
};

// method none: an empty reference. InputError naming the image (or the training windows) when
// there is nothing to fit. With slide_stains (fit_dataset_slide_stains, --stain-fit slide) each
// sampled window is white-balanced by its slide's glass first, as every window normalised from
// its slide will be.
StainFit fit_training_stain(const Dataset& data, StainMethod method, const std::string& ref_image, int threads,
                            const std::vector<SlideStain>& slide_stains = {});

// The reference of `patches`' flags: a model's or bundle's (model_path; InputError when it has
// none; it says itself how it is fitted), or `method` fitted on `ref_image` (required unless
// method is "none"), not both; `fit` ("" = window) is --stain-fit, for the latter only.
StainReference stain_reference_from_flags(const std::string& model_path, const std::string& method,
                                          const std::string& ref_image, const std::string& fit = "");

// StainScope::slide: every slide's own stain statistics (slide/windows/slide_stain.h), indexed as
// data.slides, fitted in parallel; otherwise (and in folder mode) empty. Only ref.method and
// ref.fit are read, so they can be fitted before the reference itself. A slide whose thumbnail
// cannot be read is an InputError naming it.
std::vector<SlideStain> fit_dataset_slide_stains(const Dataset& data, const StainReference& ref, int threads);

// Normalises a sample read from `data` with `ref`: from its slide's statistics when `slide_stains`
// has them, else fitted on the sample alone.
void normalize_sample_stain(RgbImage& img, const Sample& s, const StainReference& ref,
                            const std::vector<SlideStain>& slide_stains);

}  // namespace ds
