// Finding the slides to diagnose and naming their output folders.
#include "infer/diagnose_inputs.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>

#include "base/error.h"
#include "base/hash.h"
#include "base/json_bounded.h"
#include "base/safe_names.h"
#include "slide/reader/dicom_instance.h"
#include "slide/reader/dicom_series.h"
#include "slide/reader/slide.h"
#include "slide/windows/labels_csv.h"

namespace fs = std::filesystem;

namespace ds {

namespace {

// Whether `p` lies inside folder `dir` (both made absolute and normal).
bool inside(const fs::path& p, const fs::path& dir) {
  if (dir.empty()) return false;
  auto [d, q] = std::mismatch(dir.begin(), dir.end(), p.begin(), p.end());
  return d == dir.end();
}

fs::path normal(const std::string& p) { return fs::absolute(p).lexically_normal(); }

// Does `dir` hold the diagnosis of a slide other than `slide`? Its diagnosis.json names the slide
// (slide_path; from older versions, the path as given, read from here). A folder without a
// readable record is not known to be another's.
// Extensions whole-slide scanners and converters write (compared without case).
bool slide_extension(std::string ext) {
  for (char& c : ext) c = (char)std::tolower((unsigned char)c);
  for (const char* e : {".svs", ".tif", ".tiff", ".ndpi", ".dcm", ".bif", ".scn", ".vms", ".vmu", ".mrxs", ".svslide",
                        ".czi", ".isyntax"})
    if (ext == e) return true;
  return false;
}

bool folder_of_another_slide(const fs::path& dir, const fs::path& slide) {
  std::error_code ec;
  const fs::path record = dir / "diagnosis.json";
  if (!fs::is_regular_file(record, ec)) return false;
  try {
    const nlohmann::json j = read_json_file(record.string());
    std::string recorded;
    if (j.is_object() && j.contains("slide_path") && j["slide_path"].is_string())
      recorded = j["slide_path"].get<std::string>();
    else if (j.is_object() && j.contains("result") && j["result"].is_object() && j["result"].contains("slide") &&
             j["result"]["slide"].is_string())
      recorded = normal(j["result"]["slide"].get<std::string>()).string();
    return !recorded.empty() && fs::path(recorded) != slide;
  } catch (const InputError&) {
    return false;
  }
}

std::vector<std::string> walk(const std::string& folder, const fs::path& exclude) {
  std::vector<std::string> found;
  std::set<fs::path> dicom_folders;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(folder, fs::directory_options::skip_permission_denied, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_directory(ec) && inside(normal(it->path().string()), exclude)) {
      it.disable_recursion_pending();
      continue;
    }
    // A file named as a slide that the reader does not recognise is taken too, so that it fails
    // named (a corrupt .svs in an incoming folder must not pass unseen).
    if (it->is_regular_file(ec) &&
        (Slide::has_slide_magic(it->path().string()) || slide_extension(it->path().extension().string())))
      found.push_back(it->path().string());
  }
  if (ec) throw InputError(folder, "cannot list: " + ec.message());
  // A folder's DICOM files are its series (slide/reader/dicom_series.h): the folder itself when
  // it holds one, else a file of each (two series in one folder are two slides, not one).
  std::vector<std::string> slides;
  for (const std::string& f : found) {
    if (!has_dicom_magic(f)) {
      slides.push_back(f);
      continue;
    }
    if (dicom_folders.insert(fs::path(f).parent_path()).second)
      for (std::string& s : dicom_slides_in(fs::path(f).parent_path().string())) slides.push_back(std::move(s));
  }
  std::sort(slides.begin(), slides.end());
  return slides;
}

}  // namespace

std::vector<DiagnoseInput> diagnose_inputs(const std::vector<std::string>& args, const std::string& labels,
                                           const std::string& exclude) {
  const fs::path out = exclude.empty() ? fs::path() : normal(exclude);
  std::vector<DiagnoseInput> slides;
  std::error_code ec;
  if (!labels.empty()) {
    std::vector<std::string> folders;
    for (const std::string& a : args) {
      if (!fs::is_directory(a, ec)) throw InputError(a, "with --labels, give the folder the CSV's img paths are in");
      folders.push_back(a);
    }
    if (folders.size() > 1) throw InputError(labels, "with --labels, give one folder (the CSV's img paths are in it)");
    const std::string root = folders.empty() ? normal(labels).parent_path().string() : folders[0];
    // Its rows' paths (root/img) head diagnoses.csv's rows: a cell a spreadsheet would run is refused.
    if (const std::string why = spreadsheet_formula_reason(root); !why.empty())
      throw InputError(root, why + " in diagnoses.csv: give it as ./" + root);
    // A row whose file is missing stays an input: it fails alone, named, and the rest go on.
    for (const SlideLabel& row : read_labels_csv(labels, true)) {
      std::string path = (fs::path(root) / row.img).string();
      try {
        path = resolve_slide_path(root, row, labels);
      } catch (const InputError&) {
      }
      slides.push_back({path, "", row.gt});
    }
  } else {
    if (args.empty()) throw InputError("diagnose", "no slides given (slide files or folders)");
    for (const std::string& a : args) {
      // The paths found here head diagnoses.csv's rows: a cell a spreadsheet would run is refused.
      if (const std::string why = spreadsheet_formula_reason(a); !why.empty())
        throw InputError(a, why + " in diagnoses.csv: give it as ./" + a);
      if (fs::is_directory(a, ec)) {
        std::vector<std::string> found = walk(a, out);
        if (found.empty()) throw InputError(a, "no slides in this folder (nor below it)");
        for (std::string& f : found) slides.push_back({std::move(f), "", ""});
      } else {
        slides.push_back({a, "", ""});  // a missing file fails alone, named, like an unreadable one
      }
    }
  }
  // Each slide once, in the order given.
  std::set<std::string> seen;
  std::vector<DiagnoseInput> unique;
  for (DiagnoseInput& s : slides)
    if (seen.insert(normal(s.path).string()).second) unique.push_back(std::move(s));
  // Output folder names: the stem, unless another slide has the same stem.
  // A DICOM instance stands for its folder's series: the slide is named after the folder. A name
  // such as ".." (the stem of "...tif", the folder of "../x.dcm") is escaped (output_component):
  // it must not climb out of --out.
  auto stem_of = [](const std::string& p) {
    std::error_code ec;
    return output_component(has_dicom_magic(p)        ? normal(p).parent_path().filename().string()
                            : fs::is_directory(p, ec) ? normal(p).filename().string()  // a DICOM series' folder
                                                      : fs::path(p).stem().string());
  };
  // The stem also gives way when --out already holds another slide's diagnosis under it (an
  // earlier run's a/s.tif, now b/s.tif alone): the earlier results are not overwritten.
  std::map<std::string, int> stems;
  for (const DiagnoseInput& s : unique) ++stems[stem_of(s.path)];
  for (DiagnoseInput& s : unique) {
    const std::string stem = stem_of(s.path);
    s.name = stem;
    if (stems[stem] > 1 || (!out.empty() && folder_of_another_slide(out / stem, normal(s.path)))) {
      const std::string key = normal(s.path).string();
      char hex[9];
      std::snprintf(hex, sizeof hex, "%08x", (unsigned)(fnv1a(key.data(), key.size()) & 0xffffffffu));
      s.name = stem + "-" + hex;
    }
  }
  return unique;
}

}  // namespace ds
