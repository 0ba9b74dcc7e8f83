// Writing a slide's tissue windows as JPEG files, band by band, each slide on its own.
#include "slide/windows/patch_export.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>
#include <set>

#include <nlohmann/json.hpp>

#include "base/atomic_file.h"
#include "base/env_seconds.h"
#include "base/error.h"
#include "base/file_hash_cache.h"
#include "base/folder_lock.h"
#include "base/interrupt.h"
#include "base/json_bounded.h"
#include "base/output_dirs.h"
#include "base/parallel.h"
#include "base/regular_file.h"
#include "base/safe_names.h"
#include "dist/comm.h"
#include "dist/work_queue.h"
#include "slide/windows/annotated_windows.h"
#include "slide/windows/labels_csv.h"
#include "slide/windows/patch_resume.h"
#include "slide/windows/resolved_slides.h"
#include "slide/windows/slide_stain.h"

namespace fs = std::filesystem;

namespace ds {

namespace {

std::string pad5(int64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%05lld", (long long)v);
  return buf;
}

struct SlideCounts {
  int64_t kept = 0, candidates = 0;
};

// One band of tissue windows with the class each is written under: the slide's, or with
// annotations the annotation's (windows outside them dropped).
std::vector<LabelledWindow> band_to_write(const PatchExportOptions& o, const SlideLabel& row,
                                          const std::vector<Window>& band, int64_t side,
                                          const std::optional<SlideAnnotations>& a) {
  if (o.annotations.empty()) {
    std::vector<LabelledWindow> out;
    for (const Window& w : band) out.push_back({w, row.gt, 1.0});
    return out;
  }
  return label_windows(band, side, *a, o.annotation_cover, row.gt);
}

// The slide at `path` into its folders under `name`: each band of tissue windows is written as
// soon as it is selected. With annotations, a slide without an annotation file yields nothing.
SlideCounts export_slide(const PatchExportOptions& o, const SlideLabel& row, const std::string& path,
                         const std::string& name, size_t item) {
  auto slide = Slide::open(path);
  const ReadGeometry g = read_geometry(*slide, o.windows);
  std::optional<SlideAnnotations> a;
  if (!o.annotations.empty()) {
    a = load_slide_annotations(o.annotations, slide->path(), slide->level(0).width, slide->level(0).height);
    if (!a) return {};
    // Here an annotation's class names a folder of patches, as a label CSV's class does: the same
    // rules (predict, diagnose and serve use only the regions, whatever their classes).
    check_annotation_classes(*a, unsafe_class_name_reason);
  }
  auto rel_dir = [&](const std::string& cls) {
    const fs::path dir = cls;
    return o.by_folder ? dir / name / name : dir;
  };
  auto dir_of = [&](const std::string& cls) { return fs::path(o.out) / rel_dir(cls); };
  SlideCounts n;
  if (o.progress)
    o.progress->phase((int64_t)item, row.img, "scan and write", candidate_grid(*slide, g, o.windows.overlap).size());
  const auto on_checked = [&](int64_t k) {
    if (o.progress) o.progress->add(k);
  };
  const SlideStain slide_stain = fit_slide_stain(*slide, o.stain);  // (method none unless --stain-fit slide)
  const SlideWindows sw = scan_tissue_windows(
      *slide, o.windows, o.threads,
      [&](std::vector<Window>& band) {
        throw_if_stop_requested("stopped in slide " + row.img +
                                " (its patches so far are removed and written again on the next run); the slides "
                                "before it are done");
        const std::vector<LabelledWindow> todo = band_to_write(o, row, band, g.level0_side(), a);
        std::set<std::string> classes;
        for (const LabelledWindow& lw : todo) classes.insert(lw.cls);
        for (const std::string& cls : classes) make_output_dirs(o.out, rel_dir(cls).string());
        parallel_for((int64_t)todo.size(), o.threads, [&](int64_t i) {
          const Window& w = todo[(size_t)i].window;
          const std::string file = o.by_folder ? pad5(w.x) + ";" + pad5(w.y) + ".jpg"
                                               : name + "_" + std::to_string(w.x) + "_" + std::to_string(w.y) + ".jpg";
          RgbImage patch = read_window(*slide, g, w, 1);
          normalize_stain(patch, o.stain, slide_stain);
          save_jpeg((dir_of(todo[(size_t)i].cls) / file).string(), patch, o.quality, false);
        });
        n.kept += (int64_t)todo.size();
      },
      on_checked);
  n.candidates = sw.candidates;
  return n;
}

}  // namespace

std::vector<std::string> patch_slide_names(const std::vector<SlideLabel>& rows, bool one_folder) {
  // output_component: a stem such as ".." ("...tif") must not name a folder above --out.
  std::vector<std::string> names;
  for (const SlideLabel& r : rows) names.push_back(output_component(fs::path(r.img).stem().string()));
  // Flatten every name shared within a class folder (or anywhere, one_folder), until none is:
  // flattened names of distinct paths differ, so this ends; a stem equal to another slide's
  // flattened name is flattened too.
  for (bool changed = true; changed;) {
    changed = false;
    std::map<std::pair<std::string, std::string>, std::vector<size_t>> by_folder;
    for (size_t i = 0; i < rows.size(); ++i) by_folder[{one_folder ? "" : rows[i].gt, names[i]}].push_back(i);
    for (const auto& [key, idx] : by_folder)
      if (idx.size() > 1)
        for (size_t i : idx)
          if (const std::string flat = output_component(flat_path_name(rows[i].img)); names[i] != flat) {
            names[i] = flat;
            changed = true;
          }
  }
  return names;
}

namespace {

// What makes a patch folder's files (.patches.json): every setting that changes which windows are
// written, where, or their pixels. A folder holds the patches of one set of settings: a run with
// others would leave the earlier ones beside its own, and training would take both.
nlohmann::ordered_json patch_settings(const PatchExportOptions& o) {
  const WindowOptions& w = o.windows;
  nlohmann::ordered_json j;
  j["format"] = "deepslide-patches";
  j["patch_size"] = w.patch_size;
  j["overlap"] = w.overlap;
  if (w.mpp > 0) j["mpp"] = w.mpp;
  else j["level"] = w.level;
  j["tissue"] = tissue_method_name(w.tissue);
  j["purple_threshold"] = w.purple.threshold;
  j["purple_scale"] = w.purple.scale;
  j["otsu_min_fraction"] = w.otsu_min_fraction;
  j["otsu_thumbnail"] = w.otsu_thumbnail;
  j["by_folder"] = o.by_folder;
  j["quality"] = o.quality;
  j["annotations"] = o.annotations.empty() ? "" : fs::absolute(o.annotations).lexically_normal().string();
  j["annotation_cover"] = o.annotation_cover;
  j["stain"] = stain_reference_json(o.stain);
  return j;
}

// The folder's .patches.json as an earlier run wrote it (null when there is none).
nlohmann::ordered_json read_patch_record(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return nullptr;
  try {
    return read_json_file<nlohmann::ordered_json>(path);
  } catch (const InputError&) {
    throw InputError(path,
                     "unreadable: cannot tell which settings made this folder's patches (remove it, or use "
                     "another --out)");
  }
}

// InputError when `out` holds patches made with other settings (`then`, its .patches.json, differs).
void check_patch_settings(const PatchExportOptions& o, const nlohmann::ordered_json& then,
                          const nlohmann::ordered_json& mine) {
  if (then.is_null()) return;
  for (const auto& [k, v] : mine.items())
    if (!then.is_object() || !then.contains(k) || then[k] != v)
      throw InputError(o.out, "holds patches made with other settings (" + k + ": " +
                                  (then.is_object() && then.contains(k) ? then[k].dump() : "none") +
                                  ", this run: " + v.dump() + "); use another --out, or empty it first");
}

// .patches.json's "slides" or "done" by path: the file's order, whichever order the slides
// finished in (so the file does not depend on how many ranks did them); looked up and changed
// without the linear scans of an ordered object (tens of thousands of slides).
using Records = std::map<std::string, nlohmann::ordered_json>;

Records by_path(const nlohmann::ordered_json& object) {
  Records r;
  if (object.is_object())
    for (const auto& [img, v] : object.items()) r.emplace(img, v);
  return r;
}

// The slides' classes the folder's patches were exported under (.patches.json's "slides": label
// CSV path -> class; each slide recorded once its patches are written). InputError when one of
// them is now labelled with another class: its patches would stay in the old class's folder
// beside the new ones, the same windows under two labels. (With --annotations the annotations'
// classes decide the folders, not the label CSV: nothing is recorded.)
Records recorded_slide_classes(const PatchExportOptions& o, const nlohmann::ordered_json& then,
                               const std::vector<SlideLabel>& rows) {
  const Records classes = then.is_object() && then.contains("slides") ? by_path(then["slides"]) : Records{};
  if (!o.annotations.empty()) return classes;
  for (const SlideLabel& r : rows) {
    const auto it = classes.find(r.img);
    if (it != classes.end() && it->second != r.gt)
      throw InputError(o.out, "holds the patches of slide '" + quoted_for_message(r.img) + "' as class " +
                                  it->second.dump() + ", and " + o.labels + " now says '" + quoted_for_message(r.gt) +
                                  "' (its patches would be under both); use another --out, or empty it first");
  }
  return classes;
}

// The file: the settings, then "slides" and "done" in path order.
nlohmann::ordered_json patches_record(const nlohmann::ordered_json& settings, const Records& slides,
                                      const Records& done) {
  nlohmann::ordered_json r = settings;
  for (const auto& [field, records] : {std::pair{"slides", &slides}, std::pair{"done", &done}}) {
    nlohmann::ordered_json sorted = nlohmann::ordered_json::object();
    for (const auto& [img, v] : *records) append_member(sorted, img, v);  // (a map's keys: unique)
    r[field] = std::move(sorted);
  }
  return r;
}

// One slide, whatever happens to it, as JSON text for rank 0 (dist/work_queue.h): kept and
// candidate windows and the slide's "done" record, or that it is up to date, or the error; and
// the slide hashes this rank remembered (for rank 0's cache).
std::string export_item(const PatchExportOptions& o, const std::vector<SlideLabel>& rows,
                        const std::vector<std::string>& names, size_t si, PatchFolder& folder, FileHashCache& hashes) {
  throw_if_stop_requested("stopped before slide " + rows[si].img + "; the slides before it are done");
  nlohmann::ordered_json j = {{"path", rows[si].img}, {"kept", 0}, {"candidates", 0}, {"error", ""}};
  std::string path = rows[si].img;
  try {
    path = resolve_slide_path(o.all_wsi, rows[si], o.labels);
    j["path"] = path;
    nlohmann::ordered_json source =
        with_file_oom_as_input_error(path, [&] { return folder.source(rows[si], path, names[si], hashes); });
    if (const nlohmann::ordered_json* done = folder.up_to_date(rows[si].img, source)) {
      j["up_to_date"] = true;
      j["kept"] = (*done)["patches"];
      j["candidates"] = (*done)["candidates"];
    } else {
      folder.start(rows, names, si);
      const SlideCounts n =
          with_file_oom_as_input_error(path, [&] { return export_slide(o, rows[si], path, names[si], si); });
      folder.finish(rows[si].img);
      j["kept"] = n.kept;
      j["candidates"] = n.candidates;
      source["patches"] = n.kept;
      source["candidates"] = n.candidates;
      j["record"] = source;
    }
  } catch (const InputError& err) {
    j["error"] = naming_file(path, err.what());
  }
  j["hashes"] = hashes.take_added();
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// Seconds between rewrites of .patches.json as slides finish (DEEPSLIDE_PATCHES_JSON_INTERVAL,
// default 1): a record lost to a kill only makes the next run write that slide again.
double record_interval_seconds() { return env_seconds("DEEPSLIDE_PATCHES_JSON_INTERVAL", 1.0); }

}  // namespace

PatchExportSummary export_patches(const PatchExportOptions& o,
                                  const std::function<void(const SlideExport&)>& on_slide) {
  const std::vector<SlideLabel> rows = read_labels_csv(o.labels);
  require_input_folder(o.all_wsi);
  // With annotations a slide's patches go to its annotations' classes, any folder: names unique
  // across all slides.
  const std::vector<std::string> names = patch_slide_names(rows, !o.annotations.empty());
  const std::vector<ResolvedSlide> slides = resolve_slides(o.all_wsi, rows, o.labels);
  const nlohmann::ordered_json settings = patch_settings(o);
  const std::string settings_path = (fs::path(o.out) / ".patches.json").string();
  const nlohmann::ordered_json then = read_patch_record(settings_path);
  check_patch_settings(o, then, settings);  // every rank, before any writes it
  const double interval = record_interval_seconds();
  Records classes = recorded_slide_classes(o, then, rows);
  PatchFolder folder(o, then);  // every rank, before any writes (check_same_run below waits for all)
  folder.check_names(rows, names);
  Records done = by_path(folder.done());  // (rank 0's copy, updated as slides finish)
  FileHashCache hashes((fs::path(o.out) / ".slide-hashes.json").string());
  // Every rank must share with rank 0 each setting that changes a file (the folder's settings;
  // nlohmann writes doubles so that they read back exactly), where they go, and the slides.
  dist::check_same_run("patches\nout=" + o.out + "\n" + settings.dump() + "\n" + slides_description(rows, slides));
  std::optional<FolderLock> lock;  // one patches per --out (held until it returns)
  if (dist::rank() == 0) {
    make_output_dirs(o.out, "");
    lock.emplace((fs::path(o.out) / kFolderLockName).string(), o.out, "deepslide patches");
    remove_dead_temporaries(o.out, 3);  // a killed run's: OUT/<class>/, --by-folder OUT/<class>/<slide>/<slide>/
    write_text_atomic(settings_path, patches_record(settings, classes, done).dump(2) + "\n");
  }
  // Only rank 0 prints and counts; the others do their slides (o.progress: rank 0's phases).
  PatchExportOptions mine = o;
  if (dist::rank() != 0) mine.progress = nullptr;
  PatchExportSummary sum;
  sum.slides = rows.size();
  const auto t0 = std::chrono::steady_clock::now();
  if (mine.progress) mine.progress->set_items((int64_t)rows.size());
  std::map<size_t, std::string> skipped;  // in row order whichever rank finished first
  std::map<size_t, std::pair<std::string, std::string>> failed;
  std::map<size_t, std::string> up_to_date;
  std::vector<int64_t> order = dist::largest_first(slide_sizes(slides));
  if (dist::size() == 1) std::sort(order.begin(), order.end());  // alone: the CSV's order
  FileHashCache::SaveOnExit save_hashes{hashes, dist::rank() == 0};
  // Rank 0 rewrites .patches.json at most once per interval as slides finish, and when the run
  // ends or is stopped.
  auto last_write = std::chrono::steady_clock::now();
  bool unwritten = false;
  const auto publish = [&](bool now) {
    if (!unwritten) return;
    if (!now && std::chrono::duration<double>(std::chrono::steady_clock::now() - last_write).count() < interval) return;
    write_text_atomic(settings_path, patches_record(settings, classes, done).dump(2) + "\n");
    last_write = std::chrono::steady_clock::now();
    unwritten = false;
  };
  try {
    dist::share_items(
        order, [&](int64_t i) { return export_item(mine, rows, names, (size_t)i, folder, hashes); },
        [&](int64_t i, const std::string& text) {
          const nlohmann::ordered_json j = nlohmann::ordered_json::parse(text);
          hashes.adopt(j.at("hashes"));
          SlideExport e;
          e.index = (size_t)i;
          e.count = rows.size();
          e.img = rows[(size_t)i].img;
          e.name = names[(size_t)i];
          e.kept = j.at("kept");
          e.candidates = j.at("candidates");
          e.error = j.at("error");
          e.up_to_date = j.value("up_to_date", false);
          if (!e.error.empty()) failed[(size_t)i] = {e.img, e.error};
          else if (e.up_to_date) up_to_date[(size_t)i] = e.img;
          else if (e.kept == 0) skipped[(size_t)i] = j.at("path");
          if (e.error.empty() && e.kept > 0 && o.annotations.empty()) {
            nlohmann::ordered_json& cls = classes[e.img];  // its patches are in that class's folder now
            if (cls != rows[(size_t)i].gt) cls = rows[(size_t)i].gt, unwritten = true;
          }
          if (j.contains("record")) {
            done[e.img] = j["record"];
            unwritten = true;
          } else if (!e.error.empty() && done.erase(e.img) > 0) {
            unwritten = true;  // (what is left of its patches is not what the record says)
          }
          publish(false);
          if (!e.up_to_date) sum.patches += e.kept;
          if (mine.progress) mine.progress->item_done();
          e.total = sum.patches;
          e.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
          if (on_slide) on_slide(e);
        });
  } catch (...) {  // stopped, or another rank's error: the slides done so far stay recorded
    if (dist::rank() == 0) publish(true);
    throw;
  }
  if (dist::rank() == 0) publish(true);
  for (auto& [i, img] : up_to_date) sum.up_to_date.push_back(std::move(img));
  for (auto& [i, p] : skipped) sum.skipped.push_back(std::move(p));
  for (auto& [i, f] : failed) sum.failed.push_back(std::move(f));
  return sum;
}

}  // namespace ds
