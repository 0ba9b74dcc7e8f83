// Per-class overlap search, thinning and oversampling of training windows.
#include "slide/windows/training_windows.h"

#include <algorithm>
#include <cmath>

#include "base/error.h"
#include "base/interrupt.h"
#include "slide/windows/annotated_windows.h"

namespace ds {

namespace {

struct ClassWindows {
  std::vector<WindowSample> samples;
  std::vector<ReadGeometry> geometry;  // per slide of the class, in the class's slide order
};

// The samples of one slide's tissue windows: its class, or with annotations the class that
// covers each window (windows outside them dropped).
void add_samples(int i, const SlideWindows& sw, const std::vector<int>& labels,
                 const std::vector<std::string>& class_names, const AnnotationRegions* regions,
                 std::vector<WindowSample>& out) {
  if (!regions) {
    for (const Window& w : sw.windows) out.push_back({i, w, labels[(size_t)i]});
    return;
  }
  const SlideAnnotations& a = *regions->per_slide[(size_t)i];
  for (const LabelledWindow& lw : label_windows(sw.windows, sw.geometry.level0_side(), a, regions->cover,
                                                class_names[(size_t)labels[(size_t)i]])) {
    const auto c = std::find(class_names.begin(), class_names.end(), lw.cls);
    if (c == class_names.end())
      throw InputError(a.path, "annotation class '" + lw.cls + "' is not a class of the training labels");
    out.push_back({i, lw.window, (int)(c - class_names.begin())});
  }
}

// Tissue windows of the given slides at one overlap; slides without any are reported once. A
// slide whose scan fails is listed in `failed` and removed from `idx`.
std::vector<WindowSample> collect(const std::vector<const Slide*>& slides, std::vector<int>& idx,
                                  const std::vector<int>& labels, const std::vector<std::string>& class_names,
                                  WindowOptions opt, double overlap, int threads, const AnnotationRegions* regions,
                                  std::vector<ReadGeometry>& geometry, std::vector<std::string>* skipped,
                                  std::vector<std::string>& failed, ScanProgress* scan) {
  opt.overlap = overlap;
  Progress* pg = scan ? scan->progress : nullptr;
  const std::string phase = overlap == 1.0 ? "tissue scan" : "tissue scan at overlap " + std::to_string(overlap);
  auto on_checked = [pg](int64_t n) {
    if (pg) pg->add(n);
  };
  std::vector<WindowSample> out;
  std::vector<int> scanned;
  for (int i : idx) {
    const std::string& path = slides[(size_t)i]->path();
    throw_if_stop_requested("stopped while scanning the slides for tissue, before slide " + path +
                            "; nothing was trained yet");
    if (regions && !regions->per_slide[(size_t)i]) {
      geometry[(size_t)i] = read_geometry(*slides[(size_t)i], opt);
      if (skipped) skipped->push_back(path + ": no annotation file");
      scanned.push_back(i);
      continue;
    }
    SlideWindows sw;
    try {
      if (pg)
        pg->phase(scan->scans++, path, phase,
                  candidate_grid(*slides[(size_t)i], read_geometry(*slides[(size_t)i], opt), overlap).size());
      sw = with_file_oom_as_input_error(path,
                                        [&] { return select_windows(*slides[(size_t)i], opt, threads, on_checked); });
      if (pg) pg->item_done();
    } catch (const InputError& e) {
      if (pg) pg->item_done();
      failed.push_back(naming_file(path, e.what()));
      continue;
    }
    scanned.push_back(i);
    geometry[(size_t)i] = sw.geometry;
    const size_t before = out.size();
    add_samples(i, sw, labels, class_names, regions, out);
    if (out.size() == before && skipped)
      skipped->push_back(path + ": no tissue windows" + (regions ? " inside its annotations" : "") + " (" +
                         std::to_string(sw.candidates) + " examined, tissue filter " + tissue_method_name(opt.tissue) +
                         ")");
  }
  idx = scanned;
  return out;
}

}  // namespace

TrainingWindows balanced_training_windows(const std::vector<const Slide*>& slides, const std::vector<int>& labels,
                                          const std::vector<std::string>& class_names, const WindowOptions& base,
                                          const BalanceOptions& balance, int threads, const AnnotationRegions* regions,
                                          ScanProgress* scan) {
  DS_CHECK(slides.size() == labels.size(), "slides and labels differ in length");
  DS_CHECK(!regions || regions->per_slide.size() == slides.size(), "annotations and slides differ in length");
  DS_CHECK_INPUT(balance.num_per_class > 0, "--num-train-per-class must be positive");
  TrainingWindows tw;
  tw.geometry.resize(slides.size());
  std::vector<WindowSample> pool;  // every class's windows, before balancing
  for (size_t c = 0; c < class_names.size(); ++c) {
    std::vector<int> idx;
    for (size_t i = 0; i < slides.size(); ++i)
      if (labels[i] == (int)c) idx.push_back((int)i);
    ClassWindowReport rep;
    rep.name = class_names[c];
    rep.slides = (int)idx.size();
    tw.classes.push_back(rep);
    // With annotations a class may come from other classes' slides only.
    if (idx.empty() && regions) continue;
    if (idx.empty()) throw InputError("class '" + class_names[c] + "' has no training slides");
    // Windows scale with the square of the overlap factor: one pass at 1, then the estimate.
    std::vector<WindowSample> s = collect(slides, idx, labels, class_names, base, 1.0, threads, regions, tw.geometry,
                                          &tw.skipped, tw.failed, scan);
    double f = 1.0;
    if (!s.empty() && (int64_t)s.size() < balance.num_per_class) {
      f = std::clamp(std::sqrt((double)balance.num_per_class / (double)s.size()), 1.0, balance.max_overlap);
      const int region = tw.geometry[(size_t)idx[0]].region;
      f = std::min(f, (double)region);  // the step stays at least one pixel
      if (f > 1.0) {
        if (scan && scan->progress) scan->progress->set_items(scan->planned += (int64_t)idx.size());
        s = collect(slides, idx, labels, class_names, base, f, threads, regions, tw.geometry, nullptr, tw.failed, scan);
      }
    }
    if (idx.empty())
      throw InputError("class '" + class_names[c] + "': every training slide failed; first: " + tw.failed.back());
    tw.classes[c].overlap = f;
    pool.insert(pool.end(), s.begin(), s.end());
  }
  // Balance by the windows' labels (their slides' classes unless annotations say otherwise).
  std::vector<std::vector<WindowSample>> per_class(class_names.size());
  for (const WindowSample& w : pool) per_class[(size_t)w.label].push_back(w);
  for (size_t c = 0; c < per_class.size(); ++c) {
    std::vector<WindowSample>& s = per_class[c];
    if (s.empty())
      throw InputError("class '" + class_names[c] + "' has no tissue windows in any training slide" +
                       (regions ? " inside its annotations" : ""));
    tw.classes[c].found = (int64_t)s.size();
    if ((int64_t)s.size() > balance.num_per_class) {  // thin evenly, keeping grid order
      std::vector<WindowSample> thin;
      thin.reserve((size_t)balance.num_per_class);
      for (int64_t k = 0; k < balance.num_per_class; ++k)
        thin.push_back(s[(size_t)(k * (int64_t)s.size() / balance.num_per_class)]);
      s.swap(thin);
    }
  }
  size_t biggest = 0;
  for (const auto& s : per_class) biggest = std::max(biggest, s.size());
  for (size_t c = 0; c < per_class.size(); ++c) {
    const auto& s = per_class[c];
    for (size_t k = 0; k < biggest; ++k) tw.samples.push_back(s[k % s.size()]);
    tw.classes[c].after_balance = (int64_t)biggest;
  }
  return tw;
}

TrainingWindows plain_windows(const std::vector<const Slide*>& slides, const std::vector<int>& labels,
                              const std::vector<std::string>& class_names, const WindowOptions& opt, int threads,
                              const AnnotationRegions* regions, ScanProgress* scan) {
  DS_CHECK(slides.size() == labels.size(), "slides and labels differ in length");
  DS_CHECK(!regions || regions->per_slide.size() == slides.size(), "annotations and slides differ in length");
  TrainingWindows tw;
  tw.geometry.resize(slides.size());
  std::vector<int> idx(slides.size());
  for (size_t i = 0; i < idx.size(); ++i) idx[i] = (int)i;
  tw.samples = collect(slides, idx, labels, class_names, opt, opt.overlap, threads, regions, tw.geometry, &tw.skipped,
                       tw.failed, scan);
  for (size_t c = 0; c < class_names.size(); ++c) {
    ClassWindowReport rep;
    rep.name = class_names[c];
    rep.overlap = opt.overlap;
    for (size_t i = 0; i < slides.size(); ++i) rep.slides += labels[i] == (int)c;
    for (const auto& s : tw.samples) rep.found += s.label == (int)c;
    rep.after_balance = rep.found;
    tw.classes.push_back(rep);
  }
  return tw;
}

}  // namespace ds
