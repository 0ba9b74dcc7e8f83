// Class-balanced training windows (DeepSlide's stage 2 without files): each class gets its own
// overlap factor so that it yields about `num_per_class` tissue windows (DeepSlide guesses it
// from file sizes; we count windows), classes with more are thinned evenly to the target, and
// smaller classes are then oversampled by cycling through their windows until every class has
// as many as the largest (DeepSlide's duplicate_until_n, without copying files). Slides with no
// tissue window are listed and skipped; a slide whose scan fails (an unreadable file, memory
// exhausted by its declared size) is listed in `failed` and left out, and the others go on.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "base/progress.h"
#include "slide/reader/slide.h"
#include "slide/windows/annotations.h"
#include "slide/windows/slide_windows.h"

namespace ds {

struct WindowSample {
  int slide = 0;  // index into the slide list
  Window window;  // level-0 top-left corner
  int label = 0;  // class index
};

struct ClassWindowReport {
  std::string name;
  int slides = 0;
  double overlap = 1.0;       // overlap factor chosen
  int64_t found = 0;          // tissue windows at that overlap
  int64_t after_balance = 0;  // after thinning / oversampling
};

struct TrainingWindows {
  std::vector<ReadGeometry> geometry;  // per slide
  std::vector<WindowSample> samples;
  std::vector<ClassWindowReport> classes;
  std::vector<std::string> skipped;  // "slide: reason"
  std::vector<std::string> failed;   // "slide: reason": scans that failed; the slide is left out
};

struct BalanceOptions {
  int64_t num_per_class = 80000;  // DeepSlide's default target
  double max_overlap = 8.0;       // never step finer than patch / max_overlap
};

// Training on annotated regions (--annotations): per_slide[i] holds slide i's annotations, or
// null when it has none (the slide then yields no window and is listed as skipped). Each tissue
// window is kept and labelled as label_windows (annotated_windows.h) says, the slide's class
// standing in for unclassified annotations; balancing is by those labels.
struct AnnotationRegions {
  std::vector<const SlideAnnotations*> per_slide;
  double cover = 0.5;
};

// Progress of the tissue scans: each scan of a slide is an item of `progress` (a class scanned
// again at a finer overlap adds its slides as new items).
struct ScanProgress {
  Progress* progress = nullptr;
  int64_t scans = 0;    // scans started so far: the next item's index
  int64_t planned = 0;  // scans planned: the progress's item count (set it before the first)
};

// slides[i] has class labels[i] (index into class_names). threads: parallel window selection.
TrainingWindows balanced_training_windows(const std::vector<const Slide*>& slides, const std::vector<int>& labels,
                                          const std::vector<std::string>& class_names, const WindowOptions& base,
                                          const BalanceOptions& balance, int threads = 0,
                                          const AnnotationRegions* regions = nullptr, ScanProgress* scan = nullptr);

// Windows of every slide at one overlap (validation and evaluation sets), no balancing.
TrainingWindows plain_windows(const std::vector<const Slide*>& slides, const std::vector<int>& labels,
                              const std::vector<std::string>& class_names, const WindowOptions& opt, int threads = 0,
                              const AnnotationRegions* regions = nullptr, ScanProgress* scan = nullptr);

}  // namespace ds
