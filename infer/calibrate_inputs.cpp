// Calibration windows from slides and patches, fed to weights/calibrate.h in batches (see
// calibrate_inputs.h).
#include "infer/calibrate_inputs.h"

#include <algorithm>
#include <filesystem>

#include "base/error.h"
#include "base/int_math.h"
#include "engine/cpu_features.h"
#include "infer/diagnose_inputs.h"
#include "slide/reader/image_io.h"
#include "slide/reader/slide.h"
#include "slide/windows/slide_stain.h"
#include "weights/calibrate.h"
#include "weights/model_forward.h"
#include "weights/precision_agreement.h"

namespace ds {

namespace {

// Every stride-th window seen, the stride doubling (and every other kept window dropped) whenever
// more than twice `want` are kept: an even spread over a count not known in advance, in bounded
// memory.
class EvenSample {
 public:
  explicit EvenSample(int64_t want) : want_(want) {}
  void offer(const RgbImage& im) {
    if (want_ <= 0 || seen_++ % stride_ != 0) return;
    kept_.push_back(im);
    if ((int64_t)kept_.size() <= 2 * want_) return;
    for (size_t i = 1; 2 * i < kept_.size(); ++i) kept_[i] = std::move(kept_[2 * i]);  // [0] stays
    kept_.resize((kept_.size() + 1) / 2);
    stride_ *= 2;
  }
  // At most `want` of the kept windows, evenly spaced.
  std::vector<RgbImage> take() {
    const int64_t n = (int64_t)kept_.size(), k = std::min(n, want_);
    std::vector<RgbImage> out;
    for (int64_t i = 0; i < k; ++i) out.push_back(std::move(kept_[(size_t)(i * n / k)]));
    return out;
  }

 private:
  int64_t want_, seen_ = 0, stride_ = 1;
  std::vector<RgbImage> kept_;
};

// Measures what this CPU can (every precision in reference mode) on the sampled windows.
void measure(Model& model, EvenSample& sample, int batch, CalibrationSummary& s) {
  const bool ref = reference_kernels();
  const bool bf16 = ref || has_bf16_kernels(), int8 = (ref || has_vnni_kernels()) && s.int8_convs > 0;
  std::vector<std::string> skipped;
  if (!bf16) skipped.push_back("bf16 (no AVX512-BF16 kernels on this CPU)");
  if (!int8)
    skipped.push_back(s.int8_convs > 0 ? "int8 (no AVX512-VNNI or AVX-VNNI kernels on this CPU)"
                                       : "int8 (no int8 convolution)");
  std::vector<RgbImage> windows = sample.take();
  if (windows.empty()) skipped = {"bf16 and int8 (--agreement-windows 0)"};
  model.agreement = measure_agreement(model, windows, batch, bf16, int8);
  s.agreement = model.agreement;
  for (size_t i = 0; i < skipped.size(); ++i) s.agreement_note += (i ? ", " : "not measured: ") + skipped[i];
}

}  // namespace

CalibrationSummary calibrate_on_inputs(Model& model, const std::vector<std::string>& given,
                                       const WindowOptions& windows, int64_t max_windows, int64_t agreement_windows,
                                       int batch, int threads,
                                       const std::function<void(const std::string&)>& progress) {
  DS_CHECK_INPUT(max_windows >= 1, "--windows must be at least 1, got " + std::to_string(max_windows));
  // The sampled windows are kept in memory (up to twice this many before they are thinned).
  DS_CHECK_INPUT(agreement_windows >= 0 && agreement_windows <= kMaxAgreementWindows,
                 "--agreement-windows must be in 0.." + std::to_string(kMaxAgreementWindows) + ", got " +
                     std::to_string(agreement_windows));
  DS_CHECK_INPUT(batch >= 1, "--batch-size must be at least 1, got " + std::to_string(batch));
  DS_CHECK(windows.patch_size == model.patch_size, "calibrate_on_inputs: window size differs from the model's");
  // Folders are walked for slides as diagnose walks them (a DICOM series' folder is one slide).
  std::vector<std::string> inputs;
  for (const std::string& p : given) {
    std::error_code ec;
    if (!std::filesystem::is_directory(p, ec)) {
      inputs.push_back(p);
      continue;
    }
    for (const DiagnoseInput& in : diagnose_inputs({p}, "", "")) inputs.push_back(in.path);
  }
  const int64_t slides = std::count_if(inputs.begin(), inputs.end(), [](const auto& p) { return !is_picture_path(p); });
  // Slide k's share of max_windows: the shares add up to it exactly (--windows is an upper bound).
  auto share = [&](int64_t k) { return max_windows / slides + (k < max_windows % slides ? 1 : 0); };
  int64_t slide_k = 0;

  CalibrationSummary s;
  std::vector<RgbImage> pending;
  std::vector<std::string> names;
  const SlideStain* pending_stain = nullptr;  // the pending windows' slide's own stain (--stain-fit slide)
  auto flush = [&] {
    if (pending.empty()) return;
    calibrate_batch(model, make_batch(pending, model, names, pending_stain));
    s.windows += (int64_t)pending.size();
    pending.clear();
    names.clear();
  };
  EvenSample sample(agreement_windows);
  model.agreement = {};  // measured for the ranges set below, or not at all
  auto add = [&](RgbImage im, const std::string& name) {
    sample.offer(im);
    pending.push_back(std::move(im));
    names.push_back(name);
    if ((int)pending.size() == batch) flush();
  };
  begin_calibration(model);
  for (const std::string& path : inputs) {
    if (is_picture_path(path)) {
      add(load_image(path), path);
      continue;
    }
    if (progress) progress(path);
    const std::unique_ptr<Slide> slide = Slide::open(path);
    const SlideWindows sw = select_windows(*slide, windows, threads);
    flush();  // the patches before it, fitted alone
    const SlideStain slide_stain = fit_slide_stain(*slide, model.stain);
    pending_stain = &slide_stain;
    const int64_t n = (int64_t)sw.windows.size(), take = std::min(n, share(slide_k++));
    for (int64_t i = 0; i < take; ++i)  // evenly over the tissue windows
      add(read_window(*slide, sw.geometry, sw.windows[(size_t)(i * n / take)]), path);
    flush();  // a slide's windows in its own batches: a later unreadable slide names itself
    pending_stain = nullptr;
  }
  flush();
  if (s.windows == 0) throw InputError("calibrate", "the inputs hold no tissue window to calibrate on");
  s.int8_convs = finish_calibration(model);
  s.convs = (int)model.net->convs().size();
  measure(model, sample, batch, s);
  return s;
}

}  // namespace ds
