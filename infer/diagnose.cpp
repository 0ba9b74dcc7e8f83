// The slide loop of diagnose, each slide's outputs and record, and diagnoses.csv.
#include "infer/diagnose.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <new>
#include <optional>
#include <set>

#include "base/atomic_file.h"
#include "base/error.h"
#include "base/file_hash.h"
#include "base/file_hash_cache.h"
#include "base/folder_lock.h"
#include "base/hash.h"
#include "base/interrupt.h"
#include "base/json_bounded.h"
#include "base/output_dirs.h"
#include "base/safe_names.h"
#include "dist/comm.h"
#include "dist/work_queue.h"
#include "infer/geojson_export.h"
#include "infer/outcome_json.h"
#include "infer/resumable_prediction.h"
#include "infer/visualize.h"
#include "slide/reader/slide_identity.h"
#include "slide/reader/thumbnail.h"

namespace fs = std::filesystem;

namespace ds {

namespace {

using ojson = nlohmann::ordered_json;

constexpr const char* kRecord = "diagnosis.json";
constexpr const char* kWindowsCsv = "windows.csv";
constexpr const char* kWindowsKey = "windows.key.json";  // what windows.csv was made from
constexpr const char* kPartial = "windows.partial";      // predictions committed so far
constexpr const char* kThumbnail = "thumbnail.png";
constexpr const char* kGeoJson = "predictions.geojson";  // QuPath: File > Import objects

std::string heatmap_file(const std::string& cls) { return "heatmap_" + cls + ".png"; }

std::vector<std::string> output_files(const std::vector<std::string>& classes) {
  std::vector<std::string> f = {kWindowsCsv, kWindowsKey, kThumbnail, kGeoJson};
  for (const std::string& c : classes) f.push_back(heatmap_file(c));
  return f;
}

// Area of the union of the windows (all `side` x `side`, level-0 pixels), in pixels: the
// windows overlap when --overlap > 1, so their count times their area would count tissue twice.
double union_area_px(const std::vector<PatchPrediction>& w, int64_t side) {
  if (w.empty()) return 0;
  std::vector<int64_t> xs, ys;
  for (const PatchPrediction& p : w) {
    xs.insert(xs.end(), {p.x, p.x + side});
    ys.insert(ys.end(), {p.y, p.y + side});
  }
  for (auto* v : {&xs, &ys}) {
    std::sort(v->begin(), v->end());
    v->erase(std::unique(v->begin(), v->end()), v->end());
  }
  const size_t nx = xs.size() - 1;
  std::vector<uint8_t> on(nx * (ys.size() - 1), 0);
  auto index = [](const std::vector<int64_t>& v, int64_t c) {
    return (size_t)(std::lower_bound(v.begin(), v.end(), c) - v.begin());
  };
  for (const PatchPrediction& p : w)
    for (size_t yi = index(ys, p.y); yi < index(ys, p.y + side); ++yi)
      for (size_t xi = index(xs, p.x); xi < index(xs, p.x + side); ++xi) on[yi * nx + xi] = 1;
  double area = 0;
  for (size_t yi = 0; yi + 1 < ys.size(); ++yi)
    for (size_t xi = 0; xi < nx; ++xi)
      if (on[yi * nx + xi]) area += (double)(xs[xi + 1] - xs[xi]) * (double)(ys[yi + 1] - ys[yi]);
  return area;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

std::string num(const char* fmt, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}

// What a slide's outputs depend on: the run's key (the bundle, its recipe, the precision and
// kernels), the slide, and its annotations (--annotations); diagnosis.json and windows.key.json
// carry it.
ojson diagnose_key(const ojson& run, const DiagnoseOptions& o, const std::string& slide_path, const FileIdentity& id) {
  ojson key = slide_key(run, id);
  if (!o.annotations.empty())
    key["annotations"] = annotation_key(find_annotation_file(o.annotations, slide_path), o.annotation_cover);
  return key;
}

// Why a slide must be diagnosed again ("" when its outputs are current).
std::string redo_reason(const fs::path& dir, const Bundle& b, const std::string& identity, const ojson& key,
                        Diagnosis& d) {
  const fs::path record = dir / kRecord;
  std::error_code ec;
  if (!fs::exists(record, ec)) return fs::exists(dir, ec) ? "no diagnosis.json (an interrupted run?)" : "new";
  nlohmann::json j;
  try {
    j = read_json_file(record.string());  // bounded: the record may have been edited by anyone
  } catch (const InputError&) {
    return "diagnosis.json is unreadable";
  }
  try {
    if (j.at("bundle_hash").get<std::string>() != b.content_hash) return "the bundle changed";
    if (j.at("slide_identity").get<std::string>() != identity) return "the slide changed";
    if (!j.contains("key")) return "diagnosis.json has no key (an older version made it)";
    if (const std::string why = key_difference(j.at("key"), key); !why.empty()) return why;
    // Each output as written: a file edited, cut short or replaced since is redone, not trusted
    // (windows.csv by its key file, which fingerprints it; the others by diagnosis.json).
    const nlohmann::json& sums = j.contains("files_fnv1a") ? j.at("files_fnv1a") : nlohmann::json::object();
    for (const std::string& f : output_files(b.model.classes)) {
      if (!fs::exists(dir / f, ec)) return f + " is missing";
      if (f == kWindowsCsv) continue;
      if (!sums.contains(f)) return "diagnosis.json has no fingerprint of " + f + " (an older version made it)";
      if (sums.at(f) != hex64(fnv1a_file((dir / f).string()))) return f + " changed since it was written";
    }
    if (const std::string why = reuse_refusal((dir / kWindowsCsv).string(), (dir / kWindowsKey).string(), key);
        !why.empty())
      return kWindowsCsv + std::string(": ") + why;
    const nlohmann::json& r = j.at("result");
    const auto& classes = b.model.classes;
    if (r.at("diagnosis").is_null()) {
      d.diagnosis = Diagnosis::kNoDiagnosis;
    } else {
      const auto it = std::find(classes.begin(), classes.end(), r.at("diagnosis").get<std::string>());
      if (it == classes.end()) return "diagnosis.json names an unknown class";
      d.diagnosis = (int)(it - classes.begin());
    }
    d.scores.clear();
    for (const std::string& c : classes) d.scores.push_back(r.at("scores").at(c).get<double>());
    d.windows = r.at("windows").get<int64_t>();
    d.tissue_mm2 = r.at("tissue_mm2").is_null() ? -1.0 : r.at("tissue_mm2").get<double>();
    d.seconds = r.at("seconds").get<double>();
  } catch (const nlohmann::json::exception&) {
    return "diagnosis.json is incomplete";
  }
  return "";
}

// The slide's windows.csv: reused when its key file says it came from the same bundle, recipe,
// annotations and slide (a run killed while drawing), else predicted with commits to
// windows.partial that a rerun continues from.
void slide_predictions(Bundle& b, const DiagnoseOptions& o, const Slide& slide, const fs::path& dir, size_t item,
                       const ojson& key_json, DiagnoseEvent& ev) {
  ResumableSlide job;
  job.label = ev.d.slide;
  job.partial_path = (dir / kPartial).string();
  job.item = (int64_t)item;
  job.key = key_json;
  std::optional<std::string> ann_file;
  std::optional<SlideAnnotations> roi;
  if (!o.annotations.empty()) ann_file = find_annotation_file(o.annotations, ev.d.slide);
  const std::string csv = (dir / kWindowsCsv).string(), key = (dir / kWindowsKey).string();
  if (!o.force && reuse_refusal(csv, key, job.key).empty()) {
    ev.reused_windows = true;
    return;
  }
  if (ann_file) {
    roi = load_slide_annotations(o.annotations, ev.d.slide, slide.level(0).width, slide.level(0).height);
    job.roi = &*roi;
    job.roi_cover = o.annotation_cover;
  }
  ev.annotated = ann_file.has_value();
  PredictOptions po;
  po.windows = b.recipe.windows;
  po.batch_size = o.batch_size;
  po.reader_threads = o.reader_threads;
  po.select_threads = o.select_threads;
  const ResumedPredictions p = predict_slide_resumable(b.model, slide, {po, o.commit_seconds, o.progress}, job);
  finish_prediction_csv(csv, key, job.partial_path, job.key, p.csv);
  ev.stats = p.stats;
  ev.partial_note = p.partial_note;
  ev.outside_roi = p.outside_roi;
}

// Predicts, aggregates and draws one slide; writes its record last, so a slide interrupted
// half-way is redone (from its committed predictions).
void diagnose_one(Bundle& b, const DiagnoseOptions& o, const fs::path& dir, const std::string& identity,
                  const ojson& key, size_t item, DiagnoseEvent& ev) {
  Diagnosis& d = ev.d;
  const auto t0 = std::chrono::steady_clock::now();
  auto slide = Slide::open(d.slide);  // first: a slide that cannot be opened leaves no folder,
  const int64_t side = read_geometry(*slide, b.recipe.windows).level0_side();  // nor one it refuses
  make_output_dirs(dir.parent_path().string(), dir.filename().string());
  std::error_code ec;
  fs::remove(dir / kRecord, ec);
  slide_predictions(b, o, *slide, dir, item, key, ev);
  if (o.progress) o.progress->phase((int64_t)item, d.slide, "heatmaps and GeoJSON", 0, 0, false);
  const std::string csv = (dir / kWindowsCsv).string();
  // Aggregated as read back from the CSV: the numbers evaluate would see for the same slide.
  const SlidePredictions p = read_prediction_csv(csv);
  const SlideDecision decision = b.recipe.aggregator.apply(summarize(d.name, p));
  d.diagnosis = decision.predicted;
  d.scores = decision.score;
  d.windows = (int64_t)p.patches.size();
  // No window, or none that counts (under a threshold aggregator, none above its threshold): no
  // evidence for any class. evaluate gives such a slide the first class, to count it somewhere;
  // a diagnosis of a new slide says there is none.
  if (d.windows == 0 || std::all_of(d.scores.begin(), d.scores.end(), [](double v) { return v == 0; }))
    d.diagnosis = Diagnosis::kNoDiagnosis;
  const auto mx = slide->mpp_x(), my = slide->mpp_y();
  d.tissue_mm2 = mx && my ? union_area_px(p.patches, side) * *mx * *my * 1e-6 : -1.0;

  const Thumbnail th = read_thumbnail(*slide, o.thumb_size);
  save_png((dir / kThumbnail).string(), th.image);
  for (size_t k = 0; k < p.classes.size(); ++k)
    save_png((dir / heatmap_file(p.classes[k])).string(),
             with_scale_legend(draw_heatmap(th.image, th.downsample, p, side, (int)k),
                               d.name + ": P(" + p.classes[k] + ")"));
  std::vector<WindowProbabilities> tiles;
  tiles.reserve(p.patches.size());
  for (const PatchPrediction& q : p.patches) tiles.push_back({q.x, q.y, side, q.probs});
  write_qupath_geojson((dir / kGeoJson).string(), tiles, p.classes, {.content = GeoJsonContent::both});

  d.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ojson rec;
  rec["bundle"] = b.path;
  rec["bundle_hash"] = b.content_hash;
  rec["slide_identity"] = identity;
  rec["slide_path"] = fs::absolute(d.slide).lexically_normal().string();  // whose folder this is
  rec["precision"] = precision_name(b.model.precision);
  rec["key"] = key;
  rec["result"] = diagnosis_json(d, b.model.classes, dir.string());
  rec["timings"] = {{"seconds", d.seconds},
                    {"windows_reused", ev.reused_windows},
                    {"resumed_windows", ev.stats.resumed},
                    {"scan_seconds", ev.stats.scan_seconds},
                    {"read_seconds", ev.stats.read_seconds},
                    {"net_seconds", ev.stats.net_seconds},
                    {"commits", ev.stats.commits},
                    {"commit_seconds", ev.stats.commit_seconds}};
  if (!o.annotations.empty()) rec["outside_annotations"] = ev.outside_roi;
  rec["files"] = output_files(b.model.classes);
  ojson sums = ojson::object();
  for (const std::string& f : output_files(b.model.classes))
    if (f != kWindowsCsv) sums[f] = hex64(fnv1a_file((dir / f).string()));  // (windows.csv: its key file)
  rec["files_fnv1a"] = sums;
  write_text_atomic((dir / kRecord).string(), rec.dump(2, ' ', false, ojson::error_handler_t::replace) + "\n");
}

void check_slide_file(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw InputError(path, "no such file");
  // (A folder may be a DICOM series: the reader says why when it is not one.)
}

std::string identity_text(const FileIdentity& id) {
  return std::to_string(id.bytes) + ":" + hex64(id.head) + ":" + hex64(id.tail) +
         (id.sha256.empty() ? "" : ":" + id.sha256);
}

}  // namespace

std::string slide_identity(const std::string& path) {
  check_slide_file(path);
  return identity_text(slide_source_identity(path));
}

// A cell of free text (an error message): one line, and never read by a spreadsheet as a formula.
std::string text_cell(std::string s) {
  std::replace_if(
      s.begin(), s.end(), [](char c) { return c == '\n' || c == '\r' || c == '\t'; }, ' ');
  const size_t lead = s.find_first_not_of(' ');
  if (lead != std::string::npos && !spreadsheet_formula_reason(s.substr(lead)).empty()) s.insert(0, "'");
  return csv_field(s);
}

std::string diagnoses_csv_text(const std::vector<Diagnosis>& rows, const std::vector<std::string>& classes) {
  const bool with_gt = std::any_of(rows.begin(), rows.end(), [](const Diagnosis& d) { return !d.gt.empty(); });
  const bool with_error = std::any_of(rows.begin(), rows.end(), [](const Diagnosis& d) { return !d.error.empty(); });
  std::string s = "slide,diagnosis,confidence";
  for (const std::string& c : classes) s += ",score_" + c;
  s += ",windows,tissue_mm2,seconds";
  s += with_gt ? ",gt" : "";
  s += with_error ? ",error\n" : "\n";
  for (const Diagnosis& d : rows) {
    s += csv_field(d.slide) + "," +
         (d.diagnosed() ? classes[(size_t)d.diagnosis] + "," + num("%.6g", d.confidence()) : ",");
    if (!d.error.empty()) {
      s += std::string(classes.size() + 3, ',');  // no scores, windows, area or time
    } else {
      for (double v : d.scores) s += "," + num("%.6g", v);
      s += "," + std::to_string(d.windows) + "," + (d.tissue_mm2 >= 0 ? num("%.6g", d.tissue_mm2) : "") + "," +
           num("%.2f", d.seconds);
    }
    s += with_gt ? "," + d.gt : "";
    s += with_error ? "," + text_cell(d.error) + "\n" : "\n";
  }
  return s;
}

ojson diagnosis_json(const Diagnosis& d, const std::vector<std::string>& classes, const std::string& out) {
  ojson j;
  j["slide"] = d.slide;
  j["diagnosis"] = d.diagnosed() ? ojson(classes[(size_t)d.diagnosis]) : ojson(nullptr);
  j["confidence"] = d.diagnosed() ? ojson(d.confidence()) : ojson(nullptr);
  ojson s = ojson::object();
  for (size_t k = 0; k < classes.size(); ++k) s[classes[k]] = d.scores[k];
  j["scores"] = s;
  j["windows"] = d.windows;
  j["tissue_mm2"] = d.tissue_mm2 >= 0 ? ojson(d.tissue_mm2) : ojson(nullptr);
  j["seconds"] = d.seconds;
  if (!d.gt.empty()) j["gt"] = d.gt;
  j["out"] = out;
  return j;
}

namespace {

// One slide, whatever happens to it: its event as text (infer/outcome_json.h), for rank 0.
std::string diagnose_item(Bundle& b, const DiagnoseOptions& o, const ojson& run, FileHashCache& hashes, size_t i) {
  throw_if_stop_requested("stopped before slide " + o.slides[i].path + "; the slides before it are finished");
  DiagnoseEvent ev;
  Diagnosis& d = ev.d;
  d.slide = o.slides[i].path;
  d.name = o.slides[i].name;
  d.gt = o.slides[i].gt;
  const fs::path dir = fs::path(o.out) / d.name;
  try {
    check_slide_file(d.slide);
    // Read once: the record's identity and the key's (the whole slide's SHA-256 included).
    const FileIdentity id = slide_content_identity(d.slide, hashes);
    const std::string identity = identity_text(id);
    const ojson key = diagnose_key(run, o, d.slide, id);
    ev.why = redo_reason(dir, b, identity, key, d);
    if (!ev.why.empty() || o.force) {
      if (ev.why.empty()) ev.why = "--force";
      diagnose_one(b, o, dir, identity, key, i, ev);
    } else {
      ev.status = DiagnoseEvent::Status::skipped;
    }
  } catch (const std::bad_alloc&) {  // a slide whose sizes ask for more memory than there is
    ev.status = DiagnoseEvent::Status::failed;
    ev.why = d.slide + ": out of memory while reading this slide (its declared sizes are too large for this machine)";
  } catch (const std::runtime_error& e) {  // InputError, InternalError, filesystem errors: this slide only
    ev.status = DiagnoseEvent::Status::failed;
    ev.why = e.what();
  }
  if (ev.status == DiagnoseEvent::Status::failed) {
    std::error_code ec;
    fs::remove(dir, ec);  // (only when empty: a slide that failed before it wrote anything leaves no folder)
  }
  return encode_event(ev);
}

// What every rank must share with rank 0: the run's key (the bundle's hash, its recipe), the
// settings that change an output, and the slides with their sizes.
std::string run_description(const DiagnoseOptions& o, const ojson& run, const std::vector<int64_t>& sizes) {
  std::string s = "diagnose\n" + run.dump() + "\nout=" + o.out + "\nthumb=" + std::to_string(o.thumb_size) +
                  "\nforce=" + std::to_string(o.force) + "\nannotations=" + o.annotations + " " +
                  std::to_string(o.annotation_cover) + "\n";
  for (size_t i = 0; i < o.slides.size(); ++i) {
    const DiagnoseInput& in = o.slides[i];
    s += in.path + "\t" + in.name + "\t" + in.gt + "\t" + std::to_string(sizes[i]) + "\n";
  }
  return s;
}

}  // namespace

DiagnoseSummary diagnose_slides(Bundle& b, const DiagnoseOptions& o,
                                const std::function<void(const DiagnoseEvent&)>& on_slide) {
  DS_CHECK_INPUT(!o.slides.empty(), "diagnose: no slides");
  std::error_code ec;
  fs::create_directories(o.out, ec);
  if (ec) throw InputError(o.out, "cannot create folder: " + ec.message());
  DiagnoseSummary sum;
  sum.slides = o.slides.size();
  sum.csv = (fs::path(o.out) / "diagnoses.csv").string();
  const ojson run = run_key(b.path, b.recipe.windows, b.model.precision);  // hashes the bundle: once
  std::vector<int64_t> sizes;  // each slide's bytes, measured once: compared across ranks and ordering them
  for (const DiagnoseInput& in : o.slides) sizes.push_back((int64_t)bytes_on_disk(in.path));
  dist::check_same_run(run_description(o, run, sizes));
  std::optional<FolderLock> lock;  // one diagnose per --out (held until it returns)
  if (dist::rank() == 0) {
    lock.emplace((fs::path(o.out) / kFolderLockName).string(), o.out, "deepslide diagnose");
    // Before any rank writes (the others wait for their first slide from rank 0): temporary files
    // here and in the slides' folders are a killed process's.
    remove_dead_temporaries(o.out, 1);
  }
  // Only rank 0 prints and counts; the others do their slides (o.progress: rank 0's phases).
  DiagnoseOptions mine = o;
  if (dist::rank() != 0) mine.progress = nullptr;
  if (mine.progress) mine.progress->set_items((int64_t)o.slides.size());
  std::map<size_t, Diagnosis> rows;  // by input order, whichever rank finished first
  auto write_csv = [&] {
    std::vector<Diagnosis> v;
    for (const auto& [i, d] : rows) v.push_back(d);
    write_text_atomic(sum.csv, diagnoses_csv_text(v, b.model.classes));
  };
  std::vector<int64_t> order = dist::largest_first(sizes);
  if (dist::size() == 1) std::sort(order.begin(), order.end());  // alone: the input order
  // Every rank reads the remembered slide hashes; rank 0 saves them all (each slide's event carries
  // the hashes its rank made), also when the run stops early.
  FileHashCache hashes((fs::path(o.out) / kSlideHashes).string());
  const FileHashCache::SaveOnExit save_hashes{hashes, dist::rank() == 0};
  dist::share_items(
      order, [&](int64_t i) { return with_new_hashes(diagnose_item(b, mine, run, hashes, (size_t)i), hashes); },
      [&](int64_t i, const std::string& text) {
        DiagnoseEvent ev = decode_event(adopt_new_hashes(text, hashes));
        ev.index = (size_t)i;
        ev.count = o.slides.size();
        if (ev.status == DiagnoseEvent::Status::failed) {
          sum.failed.emplace_back(ev.d.slide, ev.why);
          Diagnosis row = ev.d;  // a row saying why, so that the table accounts for every slide given
          row.diagnosis = Diagnosis::kNoDiagnosis;
          row.error = ev.why.empty() ? "failed" : ev.why;
          rows[(size_t)i] = row;
          write_csv();
        } else {
          ++(ev.status == DiagnoseEvent::Status::skipped ? sum.skipped : sum.diagnosed);
          if (!ev.d.diagnosed()) sum.undiagnosed.push_back(ev.d.slide);
          rows[(size_t)i] = ev.d;
          write_csv();
        }
        if (mine.progress) mine.progress->item_done();
        if (on_slide) on_slide(ev);
      });
  if (dist::rank() == 0 && rows.empty()) write_csv();
  return sum;
}

}  // namespace ds
