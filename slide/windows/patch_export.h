// Export of tissue windows as JPEG files in DeepSlide's layout, for users who want patch folders
// (training and inference read windows from the slides):
//   <out>/<class>/<slide>_<x>_<y>.jpg                  (default; DeepSlide's train/val patches)
//   <out>/<class>/<slide>/<slide>/<xxxxx>;<yyyyy>.jpg  (by_folder; DeepSlide's eval patches)
// x is the column and y the row, in level-0 pixels. DeepSlide's own names put the row first.
// <slide> is the slide's file stem (DeepSlide's name) unless another slide of the label CSV would
// land in the same class folder under the same stem (a/s.svs and b/s.tif; with annotations, any
// other slide's stem, since annotation classes pick the folders): those slides are
// named by their label-CSV path flattened into one name (base/safe_names.h flat_path_name,
// "a%2Fs.svs"), so no slide's patches overwrite another's. Names over 200 bytes are cut and end
// in a hash.
// A rerun skips each slide an earlier run into the folder wrote from the same bytes and settings
// (.patches.json "done", docs/formats.md), and removes what it finds of a slide's earlier patches
// before writing them again. A stop request (SIGINT, SIGTERM) ends the export between bands.
// Each slide is exported on its own: a slide that cannot be found, opened or read is reported
// (SlideExport::error, PatchExportSummary::failed) and the others go on. Windows are selected and
// written band by band (slide_windows.h), so memory does not grow with the slide's declared size.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "base/progress.h"
#include "slide/windows/labels_csv.h"
#include "slide/windows/slide_windows.h"
#include "stain/stain_norm.h"

namespace ds {

struct PatchExportOptions {
  std::string all_wsi;  // folder of slides
  std::string labels;   // label CSV (img,gt) of the slides to export
  std::string out;      // output folder
  bool by_folder = false;
  int quality = 90;  // JPEG quality
  WindowOptions windows;
  int threads = 0;  // tissue selection and writing
  // A folder of <slide stem>.geojson/.json/.xml: only windows inside annotated regions are
  // written, each under its annotation's class (annotated_windows.h); a slide without a file
  // writes nothing and is listed as skipped.
  std::string annotations;
  double annotation_cover = 0.5;
  // Each patch stain-normalised before it is written (stain/stain_norm.h): a model's reference
  // (`--stain-from MODEL`) or one fitted on `--stain-ref IMAGE`; method none writes them as read.
  StainReference stain;
  Progress* progress = nullptr;  // per slide, phase "scan and write" over its grid windows; may be null
};

// One slide done (or failed).
struct SlideExport {
  size_t index = 0, count = 0;  // slide index + 1 of count
  std::string img;              // as in the label CSV
  std::string name;             // <slide> in the output names
  int64_t kept = 0, candidates = 0;
  int64_t total = 0;        // patches written so far, this slide included
  double seconds = 0;       // since the export started
  std::string error;        // non-empty: the slide failed; one line naming the file and the reason
  bool up_to_date = false;  // written by an earlier run from the same slide and settings: skipped
};

struct PatchExportSummary {
  int64_t patches = 0;
  size_t slides = 0;                                        // in the label CSV
  std::vector<std::string> skipped;                         // slide paths without a tissue window
  std::vector<std::string> up_to_date;                      // img of each slide an earlier run wrote
  std::vector<std::pair<std::string, std::string>> failed;  // img, "file: reason"
};

// The <slide> name of each row (see above), in row order; one_folder: unique across all slides,
// not only within a class folder (with annotations, any slide may write into any class folder).
std::vector<std::string> patch_slide_names(const std::vector<SlideLabel>& rows, bool one_folder = false);

// Writes every tissue window of every slide; on_slide after each. Prints nothing. Throws only for
// what concerns the whole export (the label CSV, the output folder); per-slide failures are listed.
PatchExportSummary export_patches(const PatchExportOptions& opt,
                                  const std::function<void(const SlideExport&)>& on_slide);

}  // namespace ds
