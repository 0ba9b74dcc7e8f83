// Writing a slide's tissue windows as JPEG files, in parallel.
#include "slide/windows/patch_export.h"

#include <chrono>
#include <cstdio>
#include <filesystem>

#include "base/parallel.h"
#include "slide/windows/annotated_windows.h"
#include "slide/windows/labels_csv.h"

namespace fs = std::filesystem;

namespace ds {

namespace {

std::string pad5(int64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%05lld", (long long)v);
  return buf;
}

// The tissue windows of a slide with the class each is written under: the slide's, or with
// annotations the annotation's (windows outside them dropped).
std::vector<LabelledWindow> slide_windows_to_write(const PatchExportOptions& o, const Slide& slide,
                                                   const SlideLabel& row, SlideWindows& sw) {
  std::vector<LabelledWindow> out;
  if (o.annotations.empty()) {
    for (const Window& w : sw.windows) out.push_back({w, row.gt, 1.0});
    return out;
  }
  const auto a = load_slide_annotations(o.annotations, slide.path(), slide.level(0).width, slide.level(0).height);
  if (!a) return out;
  return label_windows(sw.windows, sw.geometry.level0_side(), *a, o.annotation_cover, row.gt);
}

// The slide at `path` (row of the label CSV) into its folders; returns the windows written.
SlideWindows export_slide(const PatchExportOptions& o, const SlideLabel& row, const std::string& path) {
  auto slide = Slide::open(path);
  SlideWindows sw = select_windows(*slide, o.windows, o.threads);
  const std::vector<LabelledWindow> todo = slide_windows_to_write(o, *slide, row, sw);
  const std::string stem = fs::path(path).stem().string();
  auto dir_of = [&](const std::string& cls) {
    fs::path dir = fs::path(o.out) / cls;
    return o.by_folder ? dir / stem / stem : dir;
  };
  for (const LabelledWindow& lw : todo) fs::create_directories(dir_of(lw.cls));
  parallel_for((int64_t)todo.size(), o.threads, [&](int64_t i) {
    const Window& w = todo[(size_t)i].window;
    const std::string name = o.by_folder ? pad5(w.x) + ";" + pad5(w.y) + ".jpg"
                                         : stem + "_" + std::to_string(w.x) + "_" + std::to_string(w.y) + ".jpg";
    save_jpeg((dir_of(todo[(size_t)i].cls) / name).string(), read_window(*slide, sw.geometry, w, 1), o.quality,
              false);
  });
  sw.windows.clear();
  for (const LabelledWindow& lw : todo) sw.windows.push_back(lw.window);
  return sw;
}

}  // namespace

PatchExportSummary export_patches(const PatchExportOptions& o, const std::function<void(const SlideExport&)>& on_slide) {
  const std::vector<SlideLabel> rows = read_labels_csv(o.labels);
  PatchExportSummary sum;
  sum.slides = rows.size();
  const auto t0 = std::chrono::steady_clock::now();
  for (size_t si = 0; si < rows.size(); ++si) {
    const std::string path = resolve_slide_path(o.all_wsi, rows[si], o.labels);
    const SlideWindows sw = export_slide(o, rows[si], path);
    sum.patches += (int64_t)sw.windows.size();
    if (sw.windows.empty()) sum.skipped.push_back(path);
    SlideExport e;
    e.index = si;
    e.count = rows.size();
    e.img = rows[si].img;
    e.kept = (int64_t)sw.windows.size();
    e.candidates = sw.candidates;
    e.total = sum.patches;
    e.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (on_slide) on_slide(e);
  }
  return sum;
}

}  // namespace ds
