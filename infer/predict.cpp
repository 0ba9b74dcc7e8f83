// The slide loop of predict: per slide, whether its CSV can be reused (key file), else its tissue
// scan (or the windows of its partial file), its windows through the model in committed chunks,
// its CSV and key file, and its entry in predict.json.
#include "infer/predict.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <new>
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
#include "base/regular_file.h"
#include "base/safe_names.h"
#include "dist/comm.h"
#include "dist/work_queue.h"
#include "infer/outcome_json.h"
#include "infer/prediction_csv.h"
#include "infer/prediction_index.h"
#include "infer/prediction_key.h"
#include "infer/resumable_prediction.h"
#include "slide/reader/slide_identity.h"
#include "slide/windows/annotations.h"
#include "slide/windows/labels_csv.h"
#include "slide/windows/resolved_slides.h"

namespace fs = std::filesystem;

namespace ds {

namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

void write_json(const std::string& path, const ojson& j) { write_text_atomic(path, j.dump(2) + "\n"); }

// predict.json as an earlier run left it (its slides are kept), with this run's settings.
ojson predict_meta(const std::string& path, const Model& model, const PredictSlidesOptions& o) {
  ojson meta = ojson::object();
  std::error_code ec;
  if (fs::exists(path, ec)) {
    try {
      meta = read_json_file<ojson>(path);
    } catch (const InputError&) {
      meta = ojson::object();  // rewritten below; the CSVs and key files are what count
    }
    if (!meta.is_object()) meta = ojson::object();
  }
  const WindowOptions& w = o.predict.windows;
  meta["model"] = o.model_path;
  meta["classes"] = model.classes;
  meta["patch_size"] = model.patch_size;
  meta["overlap"] = w.overlap;
  meta["level"] = w.level;
  meta["mpp"] = w.mpp;
  meta["tissue"] = tissue_method_name(w.tissue);
  meta["purple_threshold"] = w.purple.threshold;
  meta["purple_scale"] = w.purple.scale;
  meta["otsu_min_fraction"] = w.otsu_min_fraction;
  meta["batch_size"] = o.predict.batch_size;
  meta["precision"] = precision_name(model.precision);
  if (!o.annotations.empty()) {
    meta["annotations"] = o.annotations;
    meta["annotation_cover"] = o.annotation_cover;
  } else {
    meta.erase("annotations");
    meta.erase("annotation_cover");
  }
  if (!meta.contains("slides") || !meta["slides"].is_object()) meta["slides"] = ojson::object();
  return meta;
}

// What the loop shares between slides.
struct RunState {
  Model& model;
  const PredictSlidesOptions& o;
  ojson run_key;
  Progress* progress;     // o.progress on rank 0, else null (one rank prints)
  FileHashCache& hashes;  // the slides' SHA-256 by file identity (OUT/.slide-hashes.json)
};

// A slide's predict.json entry (docs/formats.md).
ojson slide_entry(const PredictSlidesOptions& o, const SlideLabel& row, const std::string& path,
                  const std::string& name, const Slide& slide, const SlidePredictStats& st,
                  const std::optional<std::string>& ann_file, int64_t outside_roi) {
  const ReadGeometry geo = read_geometry(slide, o.predict.windows);
  const std::optional<double> mpp = read_mpp(slide, geo);
  ojson entry = {{"img", row.img},
                 {"gt", row.gt},
                 {"path", path},
                 {"csv", name + ".csv"},
                 {"window_side", geo.level0_side()},
                 {"read_level", geo.level},
                 {"read_mpp", mpp ? ojson(*mpp) : ojson(nullptr)},
                 {"windows", st.windows},
                 {"candidates", st.candidates},
                 {"resumed", st.resumed},
                 {"seconds", st.seconds},
                 {"scan_seconds", st.scan_seconds},
                 {"read_seconds", st.read_seconds},
                 {"net_seconds", st.net_seconds},
                 {"commits", st.commits},
                 {"commit_seconds", st.commit_seconds}};
  if (!o.annotations.empty()) {
    entry["annotations"] = ann_file ? ojson(*ann_file) : ojson(nullptr);
    entry["outside_annotations"] = outside_roi;
  }
  return entry;
}

// One slide: skipped when its CSV is up to date (unless force), else predicted; `entry` is its
// predict.json entry when predicted.
SlideOutcome predict_one(RunState& st, const SlideLabel& row, size_t item, ojson& entry) {
  const PredictSlidesOptions& o = st.o;
  SlideOutcome r;
  r.img = row.img;
  const std::string path = resolve_slide_path(o.all_wsi, row, o.labels);
  r.name = slide_output_name(slide_relative_path(o.all_wsi, path));
  const fs::path out(o.out);
  r.csv = (out / (r.name + ".csv")).string();
  const std::string key_path = (out / (r.name + ".key.json")).string();

  ResumableSlide job;
  job.label = row.img;
  job.partial_path = (out / (r.name + ".partial")).string();
  job.item = (int64_t)item;
  job.key = slide_key(st.run_key, slide_content_identity(path, st.hashes));
  std::optional<std::string> ann_file;
  if (!o.annotations.empty()) {
    ann_file = find_annotation_file(o.annotations, path);
    job.key["annotations"] = annotation_key(ann_file, o.annotation_cover);
  }
  const std::string refusal = reuse_refusal(r.csv, key_path, job.key);
  if (refusal.empty() && !o.force) {
    r.status = SlideOutcome::Status::skipped;
    return r;
  }
  if (refusal != "no CSV yet") r.redo_reason = refusal.empty() ? "--force" : refusal;
  std::error_code ec;
  fs::remove(key_path, ec);  // the CSV about to be replaced must not keep a key saying otherwise

  const auto t0 = Clock::now();
  auto slide = Slide::open(path);
  std::optional<SlideAnnotations> roi;
  if (ann_file) {
    roi = load_slide_annotations(o.annotations, path, slide->level(0).width, slide->level(0).height);
    job.roi = &*roi;
    job.roi_cover = o.annotation_cover;
  }
  r.annotated = ann_file.has_value();
  const ResumedPredictions p =
      predict_slide_resumable(st.model, *slide, {o.predict, o.commit_seconds, st.progress}, job);
  finish_prediction_csv(r.csv, key_path, job.partial_path, job.key, p.csv);
  r.partial_note = p.partial_note;
  r.stats = p.stats;
  r.stats.seconds = since(t0);  // opening the slide included
  r.outside_roi = p.outside_roi;

  entry = slide_entry(o, row, path, r.name, *slide, r.stats, ann_file, r.outside_roi);
  return r;
}

// The entry of a slide found up to date for which predict.json has none (deleted, or dropped when
// another run's settings were written there): its geometry and windows from the slide and its
// CSV; candidates and timings are not known (null and 0).
ojson skipped_entry(const PredictSlidesOptions& o, const SlideLabel& row, const std::string& name) {
  const std::string path = resolve_slide_path(o.all_wsi, row, o.labels);
  auto slide = Slide::open(path);
  SlidePredictStats stats;
  stats.windows = (int64_t)read_prediction_csv((fs::path(o.out) / (name + ".csv")).string()).patches.size();
  const std::optional<std::string> ann =
      o.annotations.empty() ? std::nullopt : find_annotation_file(o.annotations, path);
  ojson e = slide_entry(o, row, path, name, *slide, stats, ann, -1);
  e["candidates"] = nullptr;
  if (e.contains("outside_annotations")) e["outside_annotations"] = nullptr;
  return e;
}

// A failure's message names the slide file, whatever threw it.
std::string naming(const std::string& path, const std::string& what) {
  return what.find(path) != std::string::npos ? what : path + ": " + what;
}

// One row of the label CSV, whatever happens to it: its outcome and predict.json entry as text
// (infer/outcome_json.h), for rank 0.
std::string predict_row(RunState& st, const std::vector<SlideLabel>& rows, size_t si) {
  const PredictSlidesOptions& o = st.o;
  throw_if_stop_requested("stopped before slide " + rows[si].img + "; the slides before it are finished");
  SlideOutcome r;
  ojson entry;
  std::string path = rows[si].img;
  try {
    path = resolve_slide_path(o.all_wsi, rows[si], o.labels);
    r = predict_one(st, rows[si], si, entry);
    return encode_outcome(r, entry);  // throws for a name that is not UTF-8, as writing predict.json would
  } catch (const Interrupted&) {
    throw;
  } catch (const std::bad_alloc&) {  // a slide whose sizes ask for more memory than there is
    r.status = SlideOutcome::Status::failed;
    r.error = path + ": out of memory while reading this slide (its declared sizes are too large for this machine)";
  } catch (const std::exception& e) {  // InputError, InternalError, filesystem errors: this slide only
    r.status = SlideOutcome::Status::failed;
    r.error = naming(path, e.what());
  }
  r.img = rows[si].img;
  return encode_outcome(r, ojson());
}

// predict.json's "slides" in a fixed order, whichever rank finished first: the entries of earlier
// runs for slides not in this label CSV (in their order) whose CSVs were made with this run's
// settings (run_refusal: predict.json's settings are this run's, and search, evaluate and
// visualize read every CSV it lists as made with them), then this CSV's slides in row order,
// each with this run's entry or, when skipped as up to date, the earlier one. A slide that failed
// has none: its earlier CSV, if any, is not what this run would have made.
struct SlideEntries {
  ojson earlier;                   // "slides" as the run found it, less the ones made otherwise
  std::vector<std::string> names;  // each row's output name ("" when its slide is not found)
  std::vector<SlideLabel> rows;    // this CSV's rows: a kept entry takes its row's img and gt
  std::map<size_t, ojson> fresh;   // this run's entries by row
  std::set<size_t> failed;         // rows that failed in this run

  // Drops the earlier entries whose CSVs were made otherwise (this CSV's slides too: until this run
  // redoes one, its old CSV is not this run's, even if the run stops first). (name, why) of each
  // dropped slide not in this CSV, for the user; `annotations(entry)` is what annotation_key gives
  // the entry's slide in this run (null without --annotations).
  template <class Annotations>
  std::vector<std::pair<std::string, std::string>> keep_same_run(const std::string& out, const ojson& run,
                                                                 Annotations annotations) {
    std::vector<std::pair<std::string, std::string>> dropped;
    const std::set<std::string> ours(names.begin(), names.end());
    ojson kept = ojson::object();
    for (const auto& [name, e] : earlier.items()) {
      // (The CSV and key file predict names <name>.csv and <name>.key.json.)
      const std::string why = unsafe_component_reason(name).empty()
                                  ? run_refusal((fs::path(out) / (name + ".csv")).string(),
                                                (fs::path(out) / (name + ".key.json")).string(), run, annotations(e))
                                  : "its name is not a plain file name";
      if (why.empty()) append_member(kept, name, e);  // (keys of an object: unique)
      else if (!ours.count(name)) dropped.emplace_back(string_or(e, "img", name), why);
    }
    earlier = std::move(kept);
    return dropped;
  }

  ojson ordered() const {
    ojson out = ojson::object();
    std::set<std::string> ours(names.begin(), names.end());
    for (const auto& [name, e] : earlier.items())
      if (!ours.count(name)) append_member(out, name, e);  // (names are unique: appended)
    for (size_t i = 0; i < names.size(); ++i) {
      if (names[i].empty() || failed.count(i)) continue;
      if (auto it = fresh.find(i); it != fresh.end()) append_member(out, names[i], it->second);
      else if (earlier.contains(names[i])) {
        // Up to date: the same slide, model and settings; the label CSV may since give it another
        // class (a CSV's windows do not depend on it), which the entry must say.
        ojson e = earlier[names[i]];
        if (i < rows.size()) {
          e["img"] = rows[i].img;
          e["gt"] = rows[i].gt;
        }
        append_member(out, names[i], std::move(e));
      }
    }
    return out;
  }
};

// Seconds between rewrites of predict.json as slides finish: 1, or DEEPSLIDE_PREDICT_JSON_INTERVAL
// (tests set it long, to see that a stopped run still lists the slides it finished).
double listing_interval_seconds() { return env_seconds("DEEPSLIDE_PREDICT_JSON_INTERVAL", 1.0); }

// The settings a rank must share with rank 0 beyond run_key (which holds the model's hash and
// the window recipe): where the slides come from and go, and what changes predict.json.
std::string run_settings(const PredictSlidesOptions& o) {
  return "out=" + o.out + "\nall_wsi=" + o.all_wsi + "\nlabels=" + o.labels + "\nmodel=" + o.model_path +
         "\nbatch=" + std::to_string(o.predict.batch_size) + "\nforce=" + std::to_string(o.force) +
         "\nannotations=" + o.annotations + " " + std::to_string(o.annotation_cover) + "\n";
}

std::vector<std::string> output_names(const PredictSlidesOptions& o, const std::vector<ResolvedSlide>& slides) {
  std::vector<std::string> names;
  for (const ResolvedSlide& s : slides)
    names.push_back(s.path.empty() ? "" : slide_output_name(slide_relative_path(o.all_wsi, s.path)));
  return names;
}

// Rank 0: one slide's outcome (its own or another rank's) into the summary and predict.json.
void record(PredictSummary& sum, const SlideOutcome& r) {
  if (r.status == SlideOutcome::Status::failed) sum.failed.emplace_back(r.img, r.error);
  if (r.status == SlideOutcome::Status::skipped) sum.skipped.push_back(r.img);
  if (r.status == SlideOutcome::Status::predicted) {
    sum.windows += r.stats.windows;
    sum.resumed += r.stats.resumed;
    sum.scan_seconds += r.stats.scan_seconds;
    sum.read_seconds += r.stats.read_seconds;
    sum.net_seconds += r.stats.net_seconds;
    if (r.stats.windows == 0) sum.empty.push_back(r.img);
  }
}

}  // namespace

PredictSummary predict_slides(Model& model, const PredictSlidesOptions& o,
                              const std::function<void(const SlideOutcome&)>& on_slide) {
  // Checked before any slide: the predictor checks it too, but per slide, after predict.json.
  DS_CHECK_INPUT(o.predict.batch_size >= 1,
                 "--batch-size must be at least 1, got " + std::to_string(o.predict.batch_size));
  DS_CHECK_INPUT(o.commit_seconds >= 0, "--commit-seconds must not be negative");
  const double interval = listing_interval_seconds();  // a bad value stops the run before it starts
  const std::vector<SlideLabel> rows = read_labels_csv(o.labels);
  require_input_folder(o.all_wsi);  // (a mistyped one would fail every slide, after --out was made)
  std::error_code ec;
  fs::create_directories(o.out, ec);
  if (ec) throw InputError(o.out, "cannot create folder: " + ec.message());
  const bool leader = dist::rank() == 0;
  std::optional<FolderLock> lock;  // one predict per --out (held until it returns)
  if (leader) lock.emplace((fs::path(o.out) / kFolderLockName).string(), o.out, "deepslide predict");
  // Every rank reads the remembered hashes; rank 0 saves them all (each slide's outcome carries
  // the hashes its rank made), also when the run stops early.
  FileHashCache hashes((fs::path(o.out) / kSlideHashes).string());
  const FileHashCache::SaveOnExit save_hashes{hashes, leader};
  RunState st{model, o, run_key(o.model_path, o.predict.windows, model.precision), leader ? o.progress : nullptr,
              hashes};
  const std::vector<ResolvedSlide> slides = resolve_slides(o.all_wsi, rows, o.labels);
  dist::check_same_run("predict\n" + st.run_key.dump() + "\n" + run_settings(o) + slides_description(rows, slides));
  const std::string meta_path = (fs::path(o.out) / "predict.json").string();
  ojson meta;
  SlideEntries entries;
  PredictSummary sum;
  if (leader) {  // before any rank writes: a live rank's temporary is not dead
    remove_dead_temporaries(o.out);
    meta = predict_meta(meta_path, model, o);
    entries.earlier = meta["slides"];
    entries.names = output_names(o, slides);
    entries.rows = rows;
    sum.unlisted = entries.keep_same_run(o.out, st.run_key, [&](const ojson& e) -> ojson {
      if (o.annotations.empty()) return nullptr;
      return annotation_key(find_annotation_file(o.annotations, string_or(e, "path")), o.annotation_cover);
    });
    meta["slides"] = entries.ordered();
    write_json(meta_path, meta);  // at once: the settings above now describe every slide listed
  }
  sum.slides = rows.size();
  if (st.progress) st.progress->set_items((int64_t)rows.size());
  const auto t0 = Clock::now();
  std::vector<int64_t> order = dist::largest_first(slide_sizes(slides));
  if (dist::size() == 1) std::sort(order.begin(), order.end());  // alone: the CSV's order
  // predict.json is rewritten whole, so a new slide's entry waits up to a second
  // (DEEPSLIDE_PREDICT_JSON_INTERVAL) or until rank 0 starts its next slide, whichever is first: one
  // lost to a kill is rebuilt from its CSV next run (skipped_entry). Written at once: a slide that
  // failed (its earlier entry must stop being listed), an entry that replaces an earlier one (a
  // rerun keeps an earlier entry whose slide it finds up to date), and the run's end or stop.
  auto last_write = Clock::now();
  bool unpublished = false;
  const auto publish = [&](bool now) {
    if (!now && since(last_write) < interval) return;
    meta["slides"] = entries.ordered();
    write_json(meta_path, meta);
    last_write = Clock::now();
    unpublished = false;
  };
  try {
    dist::share_items(
        order,
        [&](int64_t i) {
          if (leader && unpublished) publish(true);  // rank 0 (or alone): before a slide that may take hours
          return with_new_hashes(predict_row(st, rows, (size_t)i), hashes);
        },
        [&](int64_t i, const std::string& text) {
          ojson entry;
          SlideOutcome r = decode_outcome(adopt_new_hashes(text, hashes), entry);
          r.index = (size_t)i;
          r.count = rows.size();
          record(sum, r);
          if (r.status == SlideOutcome::Status::skipped && entry.is_null() && !entries.names[(size_t)i].empty() &&
              !entries.earlier.contains(entries.names[(size_t)i])) {
            try {  // up to date but unlisted: listed again (a failure here only leaves it unlisted)
              entry = skipped_entry(o, rows[(size_t)i], entries.names[(size_t)i]);
            } catch (const std::exception&) {
            }
          }
          if (r.status == SlideOutcome::Status::failed && !entries.failed.count((size_t)i)) {
            entries.failed.insert((size_t)i);
            publish(true);
          }
          if (!entry.is_null()) {
            const bool replaces = entries.earlier.contains(entries.names[(size_t)i]);
            entries.fresh[(size_t)i] = std::move(entry);
            unpublished = true;
            publish(replaces);
          }
          if (st.progress) st.progress->item_done();
          if (on_slide) on_slide(r);
        });
  } catch (...) {  // stopped (Ctrl-C, another rank's error): the slides done so far stay listed
    if (leader && unpublished) publish(true);
    throw;
  }
  if (leader) publish(true);
  sum.seconds = since(t0);
  return sum;
}

}  // namespace ds
