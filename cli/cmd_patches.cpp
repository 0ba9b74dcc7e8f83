// deepslide patches: optional export of tissue windows as JPEG files in DeepSlide's layout,
// for users who want patch folders (training and inference read windows from the slides).
//   <out>/<class>/<slide>_<x>_<y>.jpg                  (default; DeepSlide's train/val patches)
//   <out>/<class>/<slide>/<slide>/<xxxxx>;<yyyyy>.jpg  (--by-folder; DeepSlide's eval patches)
// x is the column and y the row, in level-0 pixels. DeepSlide's own names put the row first.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "cli/commands.h"
#include "base/threads.h"
#include "cli/window_flags.h"
#include "base/parallel.h"
#include "slide/windows/labels_csv.h"
#include "slide/reader/slide.h"

namespace fs = std::filesystem;

namespace ds::cli {

static std::string pad5(int64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%05lld", (long long)v);
  return buf;
}

void register_patches(CLI::App& app, Globals& g) {
  struct Opts {
    std::string all_wsi, labels, out;
    bool by_folder = false;
    int quality = 90;
    WindowFlags win;
  };
  auto o = std::make_shared<Opts>();
  auto* sub = app.add_subcommand("patches", "Export tissue windows as JPEG patches in DeepSlide's folder layout");
  sub->add_option("--all-wsi", o->all_wsi, "Folder of slides (class sub-folders)")->required();
  sub->add_option("--labels", o->labels, "Label CSV (img,gt) of the slides to export")->required();
  sub->add_option("--out", o->out, "Output folder")->required();
  sub->add_flag("--by-folder", o->by_folder, "One folder per slide, <x>;<y>.jpg names (DeepSlide's eval layout)");
  sub->add_option("--jpeg-quality", o->quality, "JPEG quality")->capture_default_str();
  add_window_flags(sub, o->win);
  sub->callback([o, &g] {
    set_num_threads(g.threads);
    // DeepSlide's defaults: 1.5 for validation patches, 3 (slide_overlap) for evaluation folders.
    WindowOptions opt = o->win.resolve(o->by_folder ? 3.0 : 1.5);
    auto rows = read_labels_csv(o->labels);
    int64_t total = 0;
    std::vector<std::string> skipped;
    auto t0 = std::chrono::steady_clock::now();
    for (size_t si = 0; si < rows.size(); ++si) {
      const auto& row = rows[si];
      std::string path = resolve_slide_path(o->all_wsi, row, o->labels);
      auto slide = Slide::open(path);
      SlideWindows sw = select_windows(*slide, opt, g.threads);
      std::string stem = fs::path(path).stem().string();
      fs::path dir = fs::path(o->out) / row.gt;
      if (o->by_folder) dir = dir / stem / stem;
      fs::create_directories(dir);
      parallel_for((int64_t)sw.windows.size(), g.threads, [&](int64_t i) {
        const Window& w = sw.windows[(size_t)i];
        std::string name = o->by_folder ? pad5(w.x) + ";" + pad5(w.y) + ".jpg"
                                        : stem + "_" + std::to_string(w.x) + "_" + std::to_string(w.y) + ".jpg";
        save_jpeg((dir / name).string(), read_window(*slide, sw.geometry, w, 1), o->quality, false);
      });
      total += (int64_t)sw.windows.size();
      if (sw.windows.empty()) skipped.push_back(path);
      double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::cerr << "[" << si + 1 << "/" << rows.size() << "] " << row.img << ": " << sw.windows.size() << " of "
                << sw.candidates << " windows kept (" << (int)(total / std::max(secs, 1e-9)) << " patches/s)\n";
    }
    std::cout << "patches: wrote " << total << " patches from " << rows.size() - skipped.size() << " slides to "
              << o->out << "\n";
    if (!skipped.empty()) {
      std::cout << "patches: " << skipped.size() << " slides had no tissue windows and were skipped:\n";
      for (const auto& s : skipped) std::cout << "  " << s << "\n";
    }
  });
}

}  // namespace ds::cli
