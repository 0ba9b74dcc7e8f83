// Patient groups, grouped splits and stratified grouped folds (see grouped_split.h).
#include "slide/windows/grouped_split.h"

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "base/bounded_lines.h"
#include "base/error.h"
#include "base/hash.h"
#include "base/regular_file.h"
#include "base/rng.h"

namespace fs = std::filesystem;

namespace ds {

namespace {

std::string trim(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t\r\n"), e = s.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

struct Patient {
  std::string name;
  std::string cls;             // the class most of its slides have
  std::vector<size_t> slides;  // indices into the slide list
};

// Patients of the slides (unlisted slides alone), each with its class, sorted by name.
std::vector<Patient> patients_of(const std::vector<SlideLabel>& slides,
                                 const std::map<std::string, std::string>& groups) {
  std::map<std::string, Patient> by_name;
  for (size_t i = 0; i < slides.size(); ++i) {
    const auto g = groups.find(slides[i].img);
    // An unlisted slide is its own patient; the prefix keeps it apart from listed names.
    const std::string name = g != groups.end() ? "p:" + g->second : "s:" + slides[i].img;
    by_name[name].name = name;
    by_name[name].slides.push_back(i);
  }
  std::vector<Patient> out;
  for (auto& [name, p] : by_name) {
    std::map<std::string, int> n;
    for (size_t i : p.slides) n[slides[i].gt]++;
    int best = 0;
    for (const auto& [cls, c] : n)
      if (c > best) best = c, p.cls = cls;
    out.push_back(p);
  }
  return out;
}

// The patients of one class, in name order or shuffled with the seed (per class, as split_slides).
std::vector<const Patient*> class_patients(const std::vector<Patient>& all, const std::string& cls,
                                           std::optional<uint64_t> seed) {
  std::vector<const Patient*> v;
  for (const Patient& p : all)
    if (p.cls == cls) v.push_back(&p);
  if (seed) {
    Rng rng(*seed ^ fnv1a(cls.data(), cls.size(), kFnvOffsetLegacy));
    for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[rng.uniform_int(i)]);
  }
  return v;
}

std::vector<std::string> classes_of(const std::vector<SlideLabel>& slides) { return label_classes(slides); }

}  // namespace

std::vector<SlideLabel> all_slides(const std::string& all_wsi) {
  std::vector<SlideLabel> out;
  for (const std::string& cls : list_classes(all_wsi))
    for (const std::string& f : list_slides((fs::path(all_wsi) / cls).string())) out.push_back({cls + "/" + f, cls});
  return out;
}

std::map<std::string, std::string> read_patient_groups(const std::string& csv, const std::vector<SlideLabel>& slides) {
  require_regular_file(csv);
  std::ifstream in(csv);
  if (!in) throw InputError(csv, "cannot open groups CSV");
  // Every name a slide may go by: class/file, file, stem (ambiguous names are marked "").
  std::map<std::string, std::string> key_to_img;
  auto key = [&](const std::string& k, const std::string& img) {
    auto [it, fresh] = key_to_img.emplace(k, img);
    if (!fresh && it->second != img) it->second = "";
  };
  for (const SlideLabel& s : slides) {
    key(s.img, s.img);
    key(fs::path(s.img).filename().string(), s.img);
    key(fs::path(s.img).stem().string(), s.img);
  }
  std::string line;
  if (!read_bounded_line(in, line, csv, 1)) throw InputError(csv, "empty groups CSV (expected header slide,patient)");
  if (line.size() >= 3 && (unsigned char)line[0] == 0xEF) line = line.substr(3);  // UTF-8 BOM
  std::string header = trim(line);
  header.erase(std::remove(header.begin(), header.end(), ' '), header.end());
  if (header != "slide,patient") throw InputError(csv, "header is '" + trim(line) + "', expected slide,patient");
  std::map<std::string, std::string> out;
  for (int64_t lineno = 2; read_bounded_line(in, line, csv, lineno); ++lineno) {
    if (trim(line).empty()) continue;
    const std::string at = "line " + std::to_string(lineno) + ": ";
    const size_t comma = line.find(',');
    if (comma == std::string::npos || line.find(',', comma + 1) != std::string::npos)
      throw InputError(csv, at + "expected two fields slide,patient");
    const std::string slide = trim(line.substr(0, comma)), patient = trim(line.substr(comma + 1));
    if (slide.empty() || patient.empty()) throw InputError(csv, at + "empty slide or patient");
    const auto k = key_to_img.find(slide);
    if (k == key_to_img.end()) throw InputError(csv, at + "slide '" + slide + "' is not in the all-WSI folder");
    if (k->second.empty()) throw InputError(csv, at + "slide '" + slide + "' names several slides; write class/file");
    const auto [it, fresh] = out.emplace(k->second, patient);
    if (!fresh && it->second != patient)
      throw InputError(csv, at + "slide '" + slide + "' given patient '" + patient + "', earlier '" + it->second + "'");
  }
  return out;
}

SplitResult split_slides_grouped(const std::vector<SlideLabel>& slides,
                                 const std::map<std::string, std::string>& groups, int val_per_class,
                                 int test_per_class, std::optional<uint64_t> seed) {
  DS_CHECK_INPUT(val_per_class >= 0 && test_per_class >= 0, "split: per-class counts must be >= 0");
  const std::vector<Patient> patients = patients_of(slides, groups);
  SplitResult r;
  for (const std::string& cls : classes_of(slides)) {
    std::vector<const Patient*> v = class_patients(patients, cls, seed);
    auto count = [&](const Patient* p) {
      return (int)std::count_if(p->slides.begin(), p->slides.end(), [&](size_t i) { return slides[i].gt == cls; });
    };
    size_t end = v.size();
    for (auto [want, set] : {std::pair{test_per_class, &r.test}, std::pair{val_per_class, &r.val}}) {
      for (int have = 0; have < want && end > 0;) {
        const Patient* p = v[--end];
        have += count(p);
        for (size_t i : p->slides) set->push_back(slides[i]);
      }
    }
    if (end == 0)
      throw InputError("class '" + cls + "' has " + std::to_string(v.size()) + " patients, too few for " +
                       std::to_string(val_per_class) + " val + " + std::to_string(test_per_class) +
                       " test slides and a training patient");
    for (size_t k = 0; k < end; ++k)
      for (size_t i : v[k]->slides) r.train.push_back(slides[i]);
  }
  return r;
}

std::vector<SplitResult> fold_slides(const std::vector<SlideLabel>& slides,
                                     const std::map<std::string, std::string>& groups, int folds,
                                     std::optional<uint64_t> seed) {
  DS_CHECK_INPUT(folds >= 3, "--folds must be at least 3 (a test fold, a validation fold, training folds)");
  const std::vector<Patient> patients = patients_of(slides, groups);
  std::vector<std::vector<size_t>> fold_slides_idx((size_t)folds);
  for (const std::string& cls : classes_of(slides)) {
    std::vector<const Patient*> v = class_patients(patients, cls, seed);
    if ((int)v.size() < folds)
      throw InputError("class '" + cls + "' has " + std::to_string(v.size()) + " patients, fewer than the " +
                       std::to_string(folds) + " folds");
    std::stable_sort(v.begin(), v.end(),
                     [](const Patient* a, const Patient* b) { return a->slides.size() > b->slides.size(); });
    std::vector<size_t> have((size_t)folds, 0);
    for (const Patient* p : v) {
      const size_t f = (size_t)(std::min_element(have.begin(), have.end()) - have.begin());
      have[f] += p->slides.size();
      fold_slides_idx[f].insert(fold_slides_idx[f].end(), p->slides.begin(), p->slides.end());
    }
  }
  std::vector<SplitResult> out((size_t)folds);
  for (int k = 0; k < folds; ++k)
    for (int f = 0; f < folds; ++f) {
      auto& set = f == k ? out[(size_t)k].test : f == (k + 1) % folds ? out[(size_t)k].val : out[(size_t)k].train;
      for (size_t i : fold_slides_idx[(size_t)f]) set.push_back(slides[i]);
    }
  return out;
}

void write_folds(const std::string& all_wsi, const std::string& out_dir, const std::vector<SplitResult>& folds) {
  for (size_t k = 0; k < folds.size(); ++k)
    write_split(all_wsi, (fs::path(out_dir) / ("fold" + std::to_string(k))).string(), folds[k], Materialize::none);
}

}  // namespace ds
