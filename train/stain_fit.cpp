// Fitting the training run's stain reference (see stain_fit.h).
#include "train/stain_fit.h"

#include <algorithm>
#include <cstring>

#include "base/error.h"
#include "base/parallel.h"
#include "slide/reader/image_io.h"
#include "slide/windows/slide_stain.h"
#include "weights/model.h"

namespace ds {

StainFit fit_training_stain(const Dataset& data, StainMethod method, const std::string& ref_image, int threads,
                            const std::vector<SlideStain>& slide_stains) {
  StainFit out;
  if (method == StainMethod::none) return out;
  if (!ref_image.empty()) {
    const RgbImage img = with_file_oom_as_input_error(ref_image, [&] { return load_image(ref_image); });
    out.ref = fit_stain_reference(method, img, ref_image);
    return out;
  }
  const int64_t n = (int64_t)data.train.size();
  const int64_t k = std::min(n, kStainFitWindows);
  std::vector<RgbImage> tiles((size_t)k);
  std::vector<std::string> error((size_t)k);
  parallel_for(k, threads, [&](int64_t i) {
    try {
      const Sample& s = data.train[(size_t)(i * n / k)];
      tiles[(size_t)i] = data.read(s);
      if (s.slide >= 0 && (size_t)s.slide < slide_stains.size())
        white_balance(tiles[(size_t)i], slide_stains[(size_t)s.slide].white);
    } catch (const InputError& e) {
      error[(size_t)i] = e.what();
    }
  });
  std::vector<const RgbImage*> ok;
  for (int64_t i = 0; i < k; ++i) {
    if (error[(size_t)i].empty()) ok.push_back(&tiles[(size_t)i]);
    else out.failed.push_back({i * n / k, error[(size_t)i]});
  }
  if (ok.empty())
    throw InputError("none of the " + std::to_string(k) + " training windows sampled for --stain-norm can be read");
  const int P = data.patch_size;
  const int placed = (int)ok.size();
  RgbImage used(P * placed, P);
  for (int t = 0; t < placed; ++t)
    for (int y = 0; y < P; ++y) std::memcpy(used.row(y) + (size_t)t * P * 3, ok[(size_t)t]->row(y), (size_t)P * 3);
  out.ref =
      fit_stain_reference(method, used, "the " + std::to_string(placed) + " training windows sampled for --stain-norm");
  out.windows = placed;
  return out;
}

StainReference stain_reference_from_flags(const std::string& model_path, const std::string& method,
                                          const std::string& ref_image, const std::string& fit) {
  const StainMethod m = parse_stain_method(method);
  const StainScope f = parse_stain_fit(fit.empty() ? "window" : fit);
  if (!model_path.empty()) {
    DS_CHECK_INPUT(m == StainMethod::none && ref_image.empty() && fit.empty(),
                   "give --stain-from or --stain-norm/--stain-ref/--stain-fit, not both (a model says how it fits)");
    const Model model = load_model(model_path);
    if (model.stain.method == StainMethod::none)
      throw InputError(model_path, "has no stain normalisation (trained without --stain-norm)");
    return model.stain;
  }
  if (m == StainMethod::none) {
    DS_CHECK_INPUT(ref_image.empty(), "--stain-ref needs --stain-norm reinhard|macenko|vahadane");
    DS_CHECK_INPUT(fit.empty(), "--stain-fit needs --stain-norm reinhard|macenko|vahadane");
    return {};
  }
  DS_CHECK_INPUT(!ref_image.empty(), "--stain-norm " + method + " needs --stain-ref IMAGE (or use --stain-from MODEL)");
  const RgbImage img = with_file_oom_as_input_error(ref_image, [&] { return load_image(ref_image); });
  StainReference ref = fit_stain_reference(m, img, ref_image);
  ref.fit = f;
  return ref;
}

std::vector<SlideStain> fit_dataset_slide_stains(const Dataset& data, const StainReference& ref, int threads) {
  std::vector<SlideStain> out;
  if (ref.fit != StainScope::slide || ref.method == StainMethod::none || !data.slides_mode()) return out;
  out.resize(data.slides.size());
  parallel_for((int64_t)out.size(), threads,
               [&](int64_t i) { out[(size_t)i] = fit_slide_stain(*data.slides[(size_t)i], ref); });
  return out;
}

void normalize_sample_stain(RgbImage& img, const Sample& s, const StainReference& ref,
                            const std::vector<SlideStain>& slide_stains) {
  if (s.slide >= 0 && (size_t)s.slide < slide_stains.size()) normalize_stain(img, ref, slide_stains[(size_t)s.slide]);
  else normalize_stain(img, ref);
}

}  // namespace ds
