// `deepslide calibrate`'s work: a model's int8 input ranges (weights/calibrate.h) measured on
// windows of slides (at most max_windows, spread evenly over the slides and, within a slide, over
// its tissue windows in grid order) and on PNG/JPEG patches (every one given); then, on up to
// agreement_windows of those windows spread evenly over them, how bf16 and int8 inference agree
// with fp32 (weights/precision_agreement.h), for each precision this CPU has kernels for (all of
// them in reference mode): what --precision auto goes by. A record the model had is replaced.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "slide/windows/slide_windows.h"
#include "weights/model.h"

namespace ds {

// At most this many agreement windows (kept in memory: 2 x 2048 x 224 x 224 x 3 B = 600 MB at most).
constexpr int64_t kMaxAgreementWindows = 2048;

struct CalibrationSummary {
  int64_t windows = 0;  // windows and patches the ranges were measured on
  int int8_convs = 0;   // convolutions that run int8 (the others, conv1, stay fp32)
  int convs = 0;
  PrecisionAgreement agreement;  // also set in the model
  std::string agreement_note;    // what was not measured and why ("" when both were)
};

// Inputs ending in .png, .jpg or .jpeg (any case) are patches (patch_size a side); folders are
// walked for slides as diagnose walks them (diagnose_inputs.h); the others are slides, read with
// `windows` (its patch_size must be the model's). InputError naming the file
// for an unreadable input, and naming the inputs when they hold no window at all. progress, when
// given, is told each slide as its windows are selected (patches are quick: not reported).
CalibrationSummary calibrate_on_inputs(Model& model, const std::vector<std::string>& inputs,
                                       const WindowOptions& windows, int64_t max_windows, int64_t agreement_windows,
                                       int batch, int threads,
                                       const std::function<void(const std::string&)>& progress = nullptr);

}  // namespace ds
