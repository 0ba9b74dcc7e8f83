// Building the served list from the command line: each argument is looked at once, its slides
// opened (a file named twice, by two runs, shares one Slide and so one tile cache), and its
// prediction files located. Requests later look ids up in this list and nothing else.
#include "serve/catalog.h"

#include <algorithm>
#include <cctype>
#include <filesystem>

#include "base/error.h"
#include "base/file_hash.h"
#include "base/json_bounded.h"
#include "base/safe_names.h"
#include "slide/reader/dicom_instance.h"
#include "slide/reader/dicom_series.h"
#include "slide/reader/image_io.h"
#include "slide/reader/slide_identity.h"
#include "slide/windows/annotations.h"
#include "slide/windows/slide_windows.h"

namespace fs = std::filesystem;

namespace ds {

namespace {

constexpr size_t kMaxIdBytes = 64;

// A slide where a path leads: a file, or a DICOM series' folder (diagnose records it so).
bool slide_there(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec) || fs::is_directory(p, ec);
}

// Whether `candidate` is the slide a run's key describes (its "slide": size, first and last MB).
bool same_slide(const fs::path& candidate, const nlohmann::json& slide) {
  if (!slide.is_object()) return false;
  try {
    const FileIdentity id = slide_source_identity(candidate.string());
    return slide.value("bytes", uint64_t{0}) == id.bytes && slide.value("head_fnv1a", "") == hex64(id.head) &&
           slide.value("tail_fnv1a", "") == hex64(id.tail);
  } catch (const std::exception&) {
    return false;
  }
}

// A slide path a run folder recorded: as written (relative to where the run was started, usually
// here too), else under the run folder or its parent (the folder moved with its slides), else
// under a folder further up, nearest first, when the file there is the slide the run's key
// describes (`identity`: the key's "slide"; null when the run kept no key): serve started
// elsewhere than `deepslide run`, which records the slides relative to the folder it ran in.
// (Unchecked that far up, another project's slide of the same name would be served under this
// run's predictions.)
std::string resolve_recorded(const std::string& recorded, const fs::path& run, const std::string& where,
                             const nlohmann::json& identity) {
  const fs::path p(recorded);
  if (p.is_absolute() || slide_there(p)) {
    if (!slide_there(p)) throw InputError(where, "slide '" + quoted_for_message(recorded) + "' does not exist");
    return recorded;
  }
  std::error_code ec;
  const fs::path start = fs::absolute(run, ec).lexically_normal();
  int up = 0;
  for (fs::path base = start;; base = base.parent_path(), ++up) {
    const fs::path q = base / p;
    if (slide_there(q) && (up <= 1 || same_slide(q, identity))) return q.string();
    if (base == base.parent_path() || base.empty()) break;
  }
  // (The recorded path is the file's, so it is shortened: a hostile one could be megabytes.)
  throw InputError(where, "slide '" + quoted_for_message(recorded) + "' not found (as written, under " + run.string() +
                              " or its parent, nor as the run recorded it under a folder above them)");
}

// The "slide" of a predict CSV's key file (infer/prediction_key.h), or null.
nlohmann::json key_file_slide(const std::string& csv) {
  try {
    const nlohmann::json k = read_json_file(fs::path(csv).replace_extension(".key.json").string(), 1 << 20);
    return k.contains("key") && k["key"].contains("slide") ? k["key"]["slide"] : nlohmann::json();
  } catch (const std::exception&) {
    return nullptr;
  }
}

const nlohmann::json& member(const nlohmann::json& j, const char* key, const std::string& where) {
  if (!j.is_object() || !j.contains(key)) throw InputError(where, std::string("no '") + key + "'");
  return j[key];
}

std::string string_member(const nlohmann::json& j, const char* key, const std::string& where) {
  const nlohmann::json& v = member(j, key, where);
  if (!v.is_string() || v.get<std::string>().empty())
    throw InputError(where, std::string("'") + key + "' is not a non-empty string");
  return v.get<std::string>();
}

// A CSV name predict.json gives: a plain file name in the run folder (predict flattens paths).
std::string csv_in_run(const fs::path& run, const std::string& name, const std::string& where) {
  if (name.find('/') != std::string::npos || name == "." || name == "..")
    throw InputError(where, "csv '" + name + "' is not a file name in the run folder");
  return (run / name).string();
}

// The window side diagnose used: its key's patch size at its level or mpp (slide/windows).
int64_t diagnose_window_side(const Slide& slide, const nlohmann::json& key, const std::string& where) {
  const nlohmann::json& ps = member(key, "patch_size", where);
  if (!ps.is_number_integer() || ps.get<int64_t>() < 1 || ps.get<int64_t>() > 8192)
    throw InputError(where, "key.patch_size is not an integer in [1, 8192]");
  WindowOptions w;
  w.patch_size = ps.get<int>();
  if (key.contains("mpp") && key["mpp"].is_number() && key["mpp"].get<double>() > 0) {
    w.mpp = key["mpp"].get<double>();
  } else {
    const nlohmann::json& lv = member(key, "level", where);
    if (!lv.is_number_integer() || lv.get<int64_t>() < 0 || lv.get<int64_t>() >= slide.level_count())
      throw InputError(where, "key.level is not a level of the slide");
    w.level = lv.get<int>();
  }
  return read_geometry(slide, w).level0_side();
}

bool is_diagnose_slide_folder(const fs::path& d) {
  std::error_code ec;
  return fs::is_regular_file(d / "diagnosis.json", ec);
}

}  // namespace

std::string slide_id_base(const std::string& path) {
  std::string id = fs::path(path).filename().string();
  for (char& c : id)
    if (!(std::isalnum((unsigned char)c) || c == '.' || c == '_' || c == '-')) c = '_';
  if (id.size() > kMaxIdBytes) id.resize(kMaxIdBytes);
  if (id.empty() || id == "." || id == "..") id = "slide";
  return id;
}

std::shared_ptr<const Slide> Catalog::open(const std::string& path, size_t cache_bytes) {
  std::error_code ec;
  fs::path canon = fs::weakly_canonical(path, ec);
  const std::string key = ec ? path : canon.string();
  auto it = opened_.find(key);
  if (it != opened_.end()) return it->second;
  std::shared_ptr<const Slide> s = Slide::open(path, cache_bytes);
  opened_[key] = s;
  return s;
}

void Catalog::add(ServedSlide s, const std::string& annotations_dir) {
  // A slide reached twice (its folder and a run that predicted it; open() shares one Slide per
  // file) is served once: with the run's predictions where one has them, under its first id.
  for (ServedSlide& e : slides_) {
    if (e.slide != s.slide) continue;
    if (s.source.empty()) return;
    if (!e.source.empty()) break;  // two runs' predictions of one slide: both served
    s.id = e.id;
    s.dz = e.dz;
    s.annotations = e.annotations;
    e = std::move(s);
    return;
  }
  std::string base = slide_id_base(s.path), id = base;
  for (int n = 2; by_id_.count(id); ++n) {
    const std::string suffix = "-" + std::to_string(n);
    id = base.substr(0, kMaxIdBytes - suffix.size()) + suffix;
  }
  s.id = id;
  s.dz.width = s.slide->level(0).width;
  s.dz.height = s.slide->level(0).height;
  if (!annotations_dir.empty()) {
    if (auto f = find_annotation_file(annotations_dir, s.path)) s.annotations = *f;
  }
  by_id_[id] = slides_.size();
  slides_.push_back(std::move(s));
}

const ServedSlide* Catalog::find(const std::string& id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &slides_[it->second];
}

Catalog::Catalog(const CatalogOptions& o) {
  for (const std::string& arg : o.inputs) {
    std::error_code ec;
    const fs::path p(arg);
    if (fs::is_regular_file(p, ec)) {
      ServedSlide s;
      s.path = arg;
      s.slide = open(arg, o.cache_bytes);
      add(std::move(s), o.annotations);
      continue;
    }
    if (!fs::is_directory(p, ec)) throw InputError(arg, "no such slide or folder");
    if (fs::is_regular_file(p / "predict.json", ec)) {
      add_predict_run(p, o);
    } else if (is_diagnose_slide_folder(p)) {
      add_diagnosed(p, p, o);
    } else {
      // Slide files here and one folder down (class folders, as synth and split make them); below
      // the top, no PNG or JPEG (there they are more likely a run's pictures or exported patches
      // than slides). DICOM files stand for their series (the folder itself when it holds one:
      // slide/reader/dicom_series.h), here and in each sub-folder.
      std::vector<fs::path> diagnosed, files;
      bool dicom_here = false;
      const auto add_series = [&](const fs::path& dir) {
        for (const std::string& f : dicom_slides_in(dir.string())) files.emplace_back(f);
      };
      for (const fs::directory_entry& e : fs::directory_iterator(p, ec)) {
        if (e.is_directory(ec) && is_diagnose_slide_folder(e.path())) {
          diagnosed.push_back(e.path());
        } else if (e.is_directory(ec)) {
          add_series(e.path());
          std::error_code sub_ec;
          for (const fs::directory_entry& f : fs::directory_iterator(e.path(), sub_ec))
            if (f.is_regular_file(sub_ec) && !is_picture_path(f.path().string()) &&
                !has_dicom_magic(f.path().string()) && Slide::has_slide_magic(f.path().string()))
              files.push_back(f.path());
        } else if (e.is_regular_file(ec) && has_dicom_magic(e.path().string())) {
          dicom_here = true;
        } else if (e.is_regular_file(ec) && Slide::has_slide_magic(e.path().string())) {
          files.push_back(e.path());
        }
      }
      if (ec) throw InputError(arg, "cannot list the folder: " + ec.message());
      if (dicom_here) add_series(p);
      std::sort(diagnosed.begin(), diagnosed.end());
      std::sort(files.begin(), files.end());
      for (const fs::path& d : diagnosed) add_diagnosed(d, p, o);
      if (diagnosed.empty()) {
        for (const fs::path& f : files) {
          ServedSlide s;
          s.path = f.string();
          s.slide = open(s.path, o.cache_bytes);
          add(std::move(s), o.annotations);
        }
      }
      if (diagnosed.empty() && files.empty())
        throw InputError(arg, "holds no slide, no predict.json and no diagnose output (<slide>/diagnosis.json)" +
                                  std::string(fs::exists(p / "preds_test" / "predict.json", ec)
                                                  ? "; a deepslide run workdir: give its preds_test (or preds_val)"
                                                  : ""));
    }
  }
  if (slides_.empty()) throw InputError("deepslide serve", "no slides to serve");
}

void Catalog::add_predict_run(const fs::path& run, const CatalogOptions& o) {
  const std::string where = (run / "predict.json").string();
  const nlohmann::json meta = read_json_file(where);
  const nlohmann::json& slides = member(meta, "slides", where);
  if (!slides.is_object()) throw InputError(where, "'slides' is not an object");
  for (const auto& [name, e] : slides.items()) {
    const std::string w = where + ": slide '" + name + "'";
    ServedSlide s;
    s.csv = csv_in_run(run, string_member(e, "csv", w), w);
    s.path = resolve_recorded(string_member(e, "path", w), run, w, key_file_slide(s.csv));
    s.slide = open(s.path, o.cache_bytes);
    s.source = "predict";
    s.run = run.string();
    const nlohmann::json& side = member(e, "window_side", w);
    if (!side.is_number_integer() || side.get<int64_t>() < 1 || side.get<int64_t>() > (int64_t{1} << 20))
      throw InputError(w, "window_side is not an integer in [1, 2^20]");
    s.window_side = side.get<int64_t>();
    s.diagnosis = nullptr;
    add(std::move(s), o.annotations);
  }
}

void Catalog::add_diagnosed(const fs::path& dir, const fs::path& run, const CatalogOptions& o) {
  const std::string where = (dir / "diagnosis.json").string();
  const nlohmann::json rec = read_json_file(where);
  const nlohmann::json& result = member(rec, "result", where);
  ServedSlide s;
  const nlohmann::json& key = member(rec, "key", where);
  s.path = resolve_recorded(string_member(result, "slide", where), run, where,
                            key.is_object() && key.contains("slide") ? key["slide"] : nlohmann::json());
  s.slide = open(s.path, o.cache_bytes);
  s.source = "diagnose";
  s.run = dir.string();
  s.csv = (dir / "windows.csv").string();
  s.window_side = diagnose_window_side(*s.slide, member(rec, "key", where), where);
  s.diagnosis = result;
  add(std::move(s), o.annotations);
}

}  // namespace ds
