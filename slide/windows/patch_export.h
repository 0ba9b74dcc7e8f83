// Export of tissue windows as JPEG files in DeepSlide's layout, for users who want patch folders
// (training and inference read windows from the slides):
//   <out>/<class>/<slide>_<x>_<y>.jpg                  (default; DeepSlide's train/val patches)
//   <out>/<class>/<slide>/<slide>/<xxxxx>;<yyyyy>.jpg  (by_folder; DeepSlide's eval patches)
// x is the column and y the row, in level-0 pixels. DeepSlide's own names put the row first.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "slide/windows/slide_windows.h"

namespace ds {

struct PatchExportOptions {
  std::string all_wsi;  // folder of slides
  std::string labels;   // label CSV (img,gt) of the slides to export
  std::string out;      // output folder
  bool by_folder = false;
  int quality = 90;     // JPEG quality
  WindowOptions windows;
  int threads = 0;      // tissue selection and writing
  // A folder of <slide stem>.geojson/.json/.xml: only windows inside annotated regions are
  // written, each under its annotation's class (annotated_windows.h); a slide without a file
  // writes nothing and is listed as skipped.
  std::string annotations;
  double annotation_cover = 0.5;
};

// One slide done.
struct SlideExport {
  size_t index = 0, count = 0;  // slide index + 1 of count
  std::string img;              // as in the label CSV
  int64_t kept = 0, candidates = 0;
  int64_t total = 0;            // patches written so far, this slide included
  double seconds = 0;           // since the export started
};

struct PatchExportSummary {
  int64_t patches = 0;
  size_t slides = 0;                 // in the label CSV
  std::vector<std::string> skipped;  // slide paths without a tissue window
};

// Writes every tissue window of every slide; on_slide after each. Prints nothing.
PatchExportSummary export_patches(const PatchExportOptions& opt, const std::function<void(const SlideExport&)>& on_slide);

}  // namespace ds
