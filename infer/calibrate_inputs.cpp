// Calibration windows from slides and patches, fed to weights/calibrate.h in batches (see
// calibrate_inputs.h).
#include "infer/calibrate_inputs.h"

#include <algorithm>

#include "base/error.h"
#include "base/int_math.h"
#include "slide/reader/image_io.h"
#include "slide/reader/slide.h"
#include "weights/calibrate.h"
#include "weights/model_forward.h"

namespace ds {

namespace {

bool is_patch_file(const std::string& path) {
  std::string lower = path;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return (char)std::tolower(c); });
  return lower.ends_with(".png") || lower.ends_with(".jpg") || lower.ends_with(".jpeg");
}

}  // namespace

CalibrationSummary calibrate_on_inputs(Model& model, const std::vector<std::string>& inputs,
                                       const WindowOptions& windows, int64_t max_windows, int batch, int threads,
                                       const std::function<void(const std::string&)>& progress) {
  DS_CHECK_INPUT(max_windows >= 1, "--windows must be at least 1, got " + std::to_string(max_windows));
  DS_CHECK_INPUT(batch >= 1, "--batch-size must be at least 1, got " + std::to_string(batch));
  DS_CHECK(windows.patch_size == model.patch_size, "calibrate_on_inputs: window size differs from the model's");
  const int64_t slides = std::count_if(inputs.begin(), inputs.end(), [](const auto& p) { return !is_patch_file(p); });
  const int64_t per_slide = slides ? ceil_div(max_windows, slides) : 0;

  CalibrationSummary s;
  std::vector<RgbImage> pending;
  std::vector<std::string> names;
  auto flush = [&] {
    if (pending.empty()) return;
    calibrate_batch(model, make_batch(pending, model, names));
    s.windows += (int64_t)pending.size();
    pending.clear();
    names.clear();
  };
  auto add = [&](RgbImage im, const std::string& name) {
    pending.push_back(std::move(im));
    names.push_back(name);
    if ((int)pending.size() == batch) flush();
  };
  begin_calibration(model);
  for (const std::string& path : inputs) {
    if (is_patch_file(path)) {
      add(load_image(path), path);
      continue;
    }
    if (progress) progress(path);
    const std::unique_ptr<Slide> slide = Slide::open(path);
    const SlideWindows sw = select_windows(*slide, windows, threads);
    const int64_t n = (int64_t)sw.windows.size(), take = std::min(n, per_slide);
    for (int64_t i = 0; i < take; ++i)  // evenly over the tissue windows
      add(read_window(*slide, sw.geometry, sw.windows[(size_t)(i * n / take)]), path);
    flush();  // a slide's windows in its own batches: a later unreadable slide names itself
  }
  flush();
  if (s.windows == 0) throw InputError("calibrate", "the inputs hold no tissue window to calibrate on");
  s.int8_convs = finish_calibration(model);
  s.convs = (int)model.net->convs().size();
  return s;
}

}  // namespace ds
