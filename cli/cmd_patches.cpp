// deepslide patches: flags, one call to slide/windows/patch_export.h's export_patches (tissue
// windows as JPEG files in DeepSlide's folder layout), progress within each slide (base/progress.h)
// and a line per slide printed. A slide that
// fails is listed and the others go on; the command then exits 2.
#include <algorithm>
#include <iostream>
#include <memory>

#include "base/error.h"
#include "base/format.h"
#include "base/interrupt.h"
#include "base/progress.h"
#include "base/threads.h"
#include "cli/commands.h"
#include "cli/window_flags.h"
#include "dist/comm.h"
#include "slide/windows/patch_export.h"
#include "train/stain_fit.h"

namespace ds::cli {

void register_patches(CLI::App& app, Globals& g) {
  struct Opts {
    PatchExportOptions exp;
    WindowFlags win;
    bool quiet = false;
    std::string stain_from, stain_norm = "none", stain_ref, stain_fit;
  };
  auto o = std::make_shared<Opts>();
  auto* sub = app.add_subcommand("patches", "Export tissue windows as JPEG patches in DeepSlide's folder layout");
  sub->add_option("--all-wsi", o->exp.all_wsi, "Folder of slides (class sub-folders)")->required();
  sub->add_option("--labels", o->exp.labels, "Label CSV (img,gt) of the slides to export")->required();
  sub->add_option("--out", o->exp.out, "Output folder")->required();
  sub->add_flag("--by-folder", o->exp.by_folder, "One folder per slide, <x>;<y>.jpg names (DeepSlide's eval layout)");
  sub->add_option("--jpeg-quality", o->exp.quality, "JPEG quality")->capture_default_str();
  sub->add_option("--annotations", o->exp.annotations,
                  "Folder of <slide stem>.geojson/.json/.xml (QuPath GeoJSON, ASAP or Aperio XML): only windows inside "
                  "annotated regions, written under the annotation's class");
  sub->add_option("--annotation-cover", o->exp.annotation_cover,
                  "With --annotations: share of a window one class's annotations must cover")
      ->capture_default_str();
  sub->add_option("--stain-from", o->stain_from,
                  "Stain-normalise every patch as this model or bundle does (its train --stain-norm)");
  sub->add_option("--stain-norm", o->stain_norm,
                  "Stain-normalise every patch: none|reinhard|macenko|vahadane (with --stain-ref)")
      ->capture_default_str();
  sub->add_option("--stain-ref", o->stain_ref, "Reference image the --stain-norm method is fitted on");
  sub->add_option("--stain-fit", o->stain_fit,
                  "With --stain-norm: fit each patch's own stain on the patch (window, the default) or once per "
                  "slide on its tissue thumbnail (slide)");
  sub->add_flag("--quiet", o->quiet, "No progress line (each slide's outcome and the summary are still printed)");
  add_window_flags(sub, o->win, "1.5; 3 with --by-folder");
  sub->callback([o, &g] {
    set_num_threads(g.threads);
    PatchExportOptions exp = o->exp;
    // DeepSlide's defaults: 1.5 for validation patches, 3 (slide_overlap) for evaluation folders.
    exp.windows = o->win.resolve(exp.by_folder ? 3.0 : 1.5);
    exp.threads = g.threads;
    exp.stain = stain_reference_from_flags(o->stain_from, o->stain_norm, o->stain_ref, o->stain_fit);
    Progress progress("patches", 0, "windows", ProgressStyle::for_stderr(o->quiet));
    exp.progress = &progress;
    install_stop_handlers();
    const PatchExportSummary s = export_patches(exp, [&](const SlideExport& e) {
      const std::string head = "[" + std::to_string(e.index + 1) + "/" + std::to_string(e.count) + "] " + e.img;
      const std::string line = !e.error.empty() ? head + ": FAILED: " + e.error
                               : e.up_to_date
                                   ? head + ": up to date (" + std::to_string(e.kept) + " patches), skipped"
                                   : head + ": " + std::to_string(e.kept) + " of " + std::to_string(e.candidates) +
                                         " windows kept (" +
                                         std::to_string((int64_t)(e.total / std::max(e.seconds, 1e-9))) + " patches/s)";
      if (o->quiet) std::cerr << line << "\n";
      else progress.print(line);
    });
    if (dist::rank() != 0) return;  // under mpirun rank 0 reports the whole job (dist/work_queue.h)
    std::cout << "patches: wrote " << s.patches << " patches from "
              << count_text((long long)(s.slides - s.skipped.size() - s.failed.size() - s.up_to_date.size()), "slide")
              << " to " << exp.out << "\n";
    if (!s.up_to_date.empty())
      std::cout << "patches: " << count_text((long long)s.up_to_date.size(), "slide") << " up to date, skipped\n";
    if (!s.skipped.empty()) {
      std::cout << "patches: " << count_text((long long)s.skipped.size(), "slide") << " had no tissue windows"
                << (exp.annotations.empty() ? "" : " inside annotations (or no annotation file)")
                << " and were skipped:\n";
      for (const auto& path : s.skipped) std::cout << "  " << path << "\n";
    }
    if (!s.failed.empty()) {
      std::cout << "patches: " << count_text((long long)s.failed.size(), "slide") << " failed:\n";
      for (const auto& [img, why] : s.failed) std::cout << "  " << why << "\n";
      throw InputError(exp.labels, std::to_string(s.failed.size()) + " of " + std::to_string(s.slides) +
                                       " slides failed (listed above)");
    }
  });
}

}  // namespace ds::cli
