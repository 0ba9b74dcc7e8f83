// fuzz-links: ds_infer
// libFuzzer harness for the CSVs a run reads: the input, as a file (memfd), is read as a slide
// label CSV (slide/windows/labels_csv.h) and as a per-slide prediction CSV (infer/prediction_csv.h),
// and what the prediction reader returns goes through what reads it next (summarize, the
// aggregation rules, dots and heatmaps on a thumbnail) and back to text. Bad input must end in ds::InputError. Seeds:
// tests/fuzz/seeds/csv/.
#include <cstdint>
#include <vector>

#include "base/error.h"
#include "fuzz_input.h"
#include "infer/aggregate.h"
#include "infer/prediction_csv.h"
#include "infer/visualize.h"
#include "slide/windows/labels_csv.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ds::fuzz::MemFile file(data, size);
  if (!file.ok()) return 0;
  try {
    auto rows = ds::read_labels_csv(file.path());
    ds::label_classes(rows);
  } catch (const ds::InputError&) {
  }
  try {
    ds::SlidePredictions p = ds::read_prediction_csv(file.path());
    ds::prediction_csv_text(p);
    ds::SlideSummary s = ds::summarize("fuzz", p);
    ds::majority_vote(s);
    ds::mean_probability(s);
    ds::threshold_rule(s, std::vector<double>(p.classes.size(), 0.5));
    ds::slide_features(s);
    // Drawn on a thumbnail, with a window side as predict.json gives it (a normal one and an absurd one).
    const ds::RgbImage thumb(40, 30, 255);
    for (int64_t side : {(int64_t)224, (int64_t)1 << 40}) {
      ds::draw_dots(thumb, 16.0, p, side);
      if (!p.classes.empty()) ds::probability_map(40, 30, 16.0, p, side, 0);
    }
  } catch (const ds::InputError&) {
  }
  return 0;
}
