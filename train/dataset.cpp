// Building the training/validation sets from slides or a patch folder (see dataset.h).
#include "train/dataset.h"

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <map>
#include <set>
#include <tuple>

#include "base/error.h"
#include "base/file_hash.h"
#include "base/hash.h"
#include "base/parallel.h"
#include "slide/reader/slide_identity.h"
#include "slide/windows/annotations.h"
#include "slide/windows/labels_csv.h"

namespace fs = std::filesystem;

namespace ds {

namespace {

// A patch image, which must be patch_size square (InputError naming the file otherwise).
RgbImage load_patch(const std::string& file, int64_t patch_size) {
  RgbImage img = load_image(file);
  if (img.width != patch_size || img.height != patch_size)
    throw InputError(file, std::to_string(img.width) + "x" + std::to_string(img.height) + ", expected " +
                               std::to_string(patch_size) + "x" + std::to_string(patch_size));
  return img;
}

}  // namespace

RgbImage Dataset::read(const Sample& s) const {
  if (s.file < 0) return read_window(*slides[(size_t)s.slide], geometry[(size_t)s.slide], s.window, 1);
  return load_patch(files[(size_t)s.file], patch_size);  // checked at load, checked again: it may change
}

const std::string& Dataset::file_of(const Sample& s) const {
  return s.file >= 0 ? files[(size_t)s.file] : slide_paths[(size_t)s.slide];
}

std::string Dataset::where_in_file(const Sample& s) const {
  if (s.file >= 0) return "";
  return "x=" + std::to_string(s.window.x) + " y=" + std::to_string(s.window.y);
}

std::vector<int64_t> class_counts(const std::vector<Sample>& samples, size_t num_classes) {
  std::vector<int64_t> n(num_classes, 0);
  for (const Sample& s : samples) n[(size_t)s.label]++;
  return n;
}

namespace {

// Opens the slides of one label CSV; slides already opened (same path) are shared. A slide that
// cannot be found or opened is listed in d.failed and left out.
void open_rows(Dataset& d, const std::string& all_wsi, const std::string& csv, std::vector<int>& slide_idx,
               std::vector<int>& labels, std::set<std::string>& failed_paths) {
  const std::vector<SlideLabel> rows = read_labels_csv(csv);
  DS_CHECK_INPUT(!rows.empty(), csv + ": no slides listed");
  for (const SlideLabel& row : rows) {
    const auto c = std::find(d.classes.begin(), d.classes.end(), row.gt);
    if (c == d.classes.end())
      throw InputError(csv, "class '" + row.gt + "' (slide " + row.img + ") does not appear in the training labels");
    std::string path = row.img;
    int idx = -1;
    try {
      path = resolve_slide_path(all_wsi, row, csv);
      auto it = std::find(d.slide_paths.begin(), d.slide_paths.end(), path);
      idx = (int)(it - d.slide_paths.begin());
      if (it == d.slide_paths.end() && !failed_paths.count(path)) {
        d.slides.push_back(with_file_oom_as_input_error(path, [&] { return Slide::open(path); }));
        d.slide_paths.push_back(path);
      }
    } catch (const InputError& e) {
      if (failed_paths.insert(path).second) d.failed.push_back(naming_file(path, e.what()));
      continue;
    }
    if (failed_paths.count(path)) continue;
    slide_idx.push_back(idx);
    labels.push_back((int)(c - d.classes.begin()));
  }
}

std::vector<Sample> to_samples(const TrainingWindows& tw, const std::vector<int>& slide_idx,
                               std::vector<ReadGeometry>& geometry) {
  std::vector<Sample> out;
  out.reserve(tw.samples.size());
  for (const WindowSample& w : tw.samples) {
    Sample s;
    s.label = w.label;
    s.slide = slide_idx[(size_t)w.slide];
    s.window = w.window;
    geometry[(size_t)s.slide] = tw.geometry[(size_t)w.slide];
    out.push_back(s);
  }
  return out;
}

}  // namespace

Dataset load_slides_dataset(const SlidesSource& src, int threads) {
  Dataset d;
  d.patch_size = src.window.patch_size;
  if (src.window.mpp > 0) d.read_at.mpp = src.window.mpp;
  else d.read_at.level = src.window.level;
  WindowOptions wopt = src.window;
  wopt.keep_unreadable = true;  // an unreadable window is counted and skipped when it is read
  d.classes = label_classes(read_labels_csv(src.labels_train));
  DS_CHECK_INPUT(d.classes.size() >= 2,
                 src.labels_train + ": at least two classes are needed, found " + std::to_string(d.classes.size()));
  std::vector<int> train_idx, train_labels, val_idx, val_labels;
  std::set<std::string> failed_paths;
  open_rows(d, src.all_wsi, src.labels_train, train_idx, train_labels, failed_paths);
  open_rows(d, src.all_wsi, src.labels_val, val_idx, val_labels, failed_paths);
  d.slides_listed = (int64_t)(d.slides.size() + failed_paths.size());
  d.geometry.resize(d.slides.size());

  auto subset = [&](const std::vector<int>& idx) {
    std::vector<const Slide*> v;
    for (int i : idx) v.push_back(d.slides[(size_t)i].get());
    return v;
  };
  // Annotations of every opened slide (--annotations), and the per-set views of them.
  std::vector<std::optional<SlideAnnotations>> ann(d.slides.size());
  if (!src.annotations.empty())
    for (size_t i = 0; i < d.slides.size(); ++i)
      ann[i] = load_slide_annotations(src.annotations, d.slide_paths[i], d.slides[i]->level(0).width,
                                      d.slides[i]->level(0).height);
  auto regions = [&](const std::vector<int>& idx) {
    AnnotationRegions r;
    r.cover = src.annotation_cover;
    for (int i : idx) r.per_slide.push_back(ann[(size_t)i] ? &*ann[(size_t)i] : nullptr);
    return r;
  };
  const AnnotationRegions train_regions = regions(train_idx), val_regions = regions(val_idx);
  const bool annotated = !src.annotations.empty();
  BalanceOptions bal;
  bal.num_per_class = src.num_train_per_class;
  ScanProgress scan{src.progress, 0, (int64_t)(train_idx.size() + val_idx.size())};
  if (src.progress) src.progress->set_items(scan.planned);
  TrainingWindows tw = balanced_training_windows(subset(train_idx), train_labels, d.classes, wopt, bal, threads,
                                                 annotated ? &train_regions : nullptr, &scan);
  d.train = to_samples(tw, train_idx, d.geometry);
  for (const std::string& s : tw.skipped) d.skipped.push_back(s);
  for (const std::string& s : tw.failed) d.failed.push_back(s);

  WindowOptions vopt = wopt;
  vopt.overlap = src.val_overlap;
  TrainingWindows vw =
      plain_windows(subset(val_idx), val_labels, d.classes, vopt, threads, annotated ? &val_regions : nullptr, &scan);
  d.val = to_samples(vw, val_idx, d.geometry);
  for (const std::string& s : vw.skipped) d.skipped.push_back(s);
  for (const std::string& s : vw.failed)
    if (std::find(d.failed.begin(), d.failed.end(), s) == d.failed.end()) d.failed.push_back(s);
  DS_CHECK_INPUT(!d.val.empty(), src.labels_val + ": no tissue windows in any validation slide");

  const std::vector<int64_t> n = class_counts(d.train, d.classes.size());
  for (size_t c = 0; c < n.size(); ++c)
    DS_CHECK_INPUT(n[c] > 0, src.labels_train + ": class '" + d.classes[c] + "' has no training windows");
  std::set<std::tuple<int32_t, int64_t, int64_t>> distinct;
  for (const auto* set : {&d.train, &d.val})
    for (const Sample& s : *set) distinct.insert({s.slide, s.window.x, s.window.y});
  d.items = (int64_t)distinct.size();
  // What a checkpoint was trained on, for --resume to compare: the label CSVs by path and content
  // (a class changed in place is other data), and the slides' identities (base/file_hash.h).
  uint64_t ids = kFnvOffset;
  for (const std::string& p : d.slide_paths) {
    const FileIdentity id = slide_source_identity(p);
    for (uint64_t v : {id.bytes, id.head, id.tail}) ids = fnv1a(&v, sizeof v, ids);
  }
  d.source = "slides:" + fs::absolute(src.labels_train).string() + "#" + hex64(fnv1a_file(src.labels_train)) + "," +
             fs::absolute(src.labels_val).string() + "#" + hex64(fnv1a_file(src.labels_val)) + ",slides#" + hex64(ids) +
             ",n=" + std::to_string(d.train.size()) + "/" + std::to_string(d.val.size());
  if (annotated)
    d.source += ",annotations=" + fs::absolute(src.annotations).string() + "@" + std::to_string(src.annotation_cover);
  return d;
}

namespace {

// class name -> sorted image paths under root/<class>/**. Hidden folders are not classes (patches'
// OUT/.exporting, a file manager's or notebook's folders).
std::map<std::string, std::vector<std::string>> scan_split(const fs::path& root) {
  DS_CHECK_INPUT(fs::is_directory(root), root.string() + ": not a folder (expected <class> sub-folders)");
  std::map<std::string, std::vector<std::string>> out;
  for (const auto& e : fs::directory_iterator(root)) {
    if (!e.is_directory() || e.path().filename().string().rfind('.', 0) == 0) continue;
    std::vector<std::string>& files = out[e.path().filename().string()];
    for (const auto& f : fs::recursive_directory_iterator(e.path()))
      if (f.is_regular_file() && is_picture_path(f.path().string())) files.push_back(f.path().string());
    std::sort(files.begin(), files.end());
  }
  return out;
}

}  // namespace

Dataset load_folder_dataset(const std::string& dir, int patch_size, int threads) {
  Dataset d;
  d.patch_size = patch_size;
  const auto train = scan_split(fs::path(dir) / "train");
  const auto val = scan_split(fs::path(dir) / "val");
  for (const auto& [name, files] : train) {
    DS_CHECK_INPUT(!files.empty(), (fs::path(dir) / "train" / name).string() + ": class '" + name +
                                       "' has no images (.jpg, .jpeg, .png)");
    d.classes.push_back(name);
  }
  DS_CHECK_INPUT(d.classes.size() >= 2, (fs::path(dir) / "train").string() +
                                            ": at least two class folders are needed, found " +
                                            std::to_string(d.classes.size()));
  for (const auto& [name, files] : val)
    DS_CHECK_INPUT(train.count(name), (fs::path(dir) / "val" / name).string() + ": class '" + name +
                                          "' is missing from the training folder");
  std::vector<std::pair<int, bool>> meta;  // (label, is_train) per file
  for (int pass = 0; pass < 2; ++pass)
    for (const auto& [name, files] : pass == 0 ? train : val) {
      const int label = (int)(std::find(d.classes.begin(), d.classes.end(), name) - d.classes.begin());
      for (const std::string& f : files) {
        d.files.push_back(f);
        meta.push_back({label, pass == 0});
      }
    }
  // Decode every image once to find unreadable or wrong-size files before training.
  std::vector<std::string> problem(d.files.size());
  parallel_for((int64_t)d.files.size(), threads, [&](int64_t i) {
    try {
      load_patch(d.files[(size_t)i], patch_size);
    } catch (const InputError& e) {
      problem[(size_t)i] = e.what();
    }
  });
  for (size_t i = 0; i < d.files.size(); ++i) {
    if (!problem[i].empty()) {
      d.skipped.push_back(problem[i]);
      continue;
    }
    Sample s;
    s.label = meta[i].first;
    s.file = (int32_t)i;
    (meta[i].second ? d.train : d.val).push_back(s);
  }
  d.items = (int64_t)d.files.size();
  d.unreadable_at_load = (int64_t)d.skipped.size();
  if (d.skipped.size() * 100 > d.files.size())
    throw InputError(dir, std::to_string(d.skipped.size()) + " of " + std::to_string(d.files.size()) +
                              " images are unreadable or not " + std::to_string(patch_size) + "x" +
                              std::to_string(patch_size) + " (more than 1%); first: " + d.skipped.front());
  const std::vector<int64_t> n = class_counts(d.train, d.classes.size());
  for (size_t c = 0; c < n.size(); ++c)
    DS_CHECK_INPUT(n[c] > 0, (fs::path(dir) / "train" / d.classes[c]).string() + ": no usable images");
  DS_CHECK_INPUT(!d.val.empty(), (fs::path(dir) / "val").string() + ": no usable validation images");
  // (The images by name and size: reading them all to hash them would cost an epoch.)
  uint64_t files = kFnvOffset;
  for (const std::string& f : d.files) {
    std::error_code ec;
    const uint64_t bytes = (uint64_t)fs::file_size(f, ec);
    const std::string rel = fs::path(f).lexically_relative(dir).generic_string();  // (however `dir` is written)
    files = fnv1a(rel.data(), rel.size(), files);
    files = fnv1a(&bytes, sizeof bytes, files);
  }
  d.source = "folder:" + fs::absolute(dir).string() + ",files#" + hex64(files) +
             ",n=" + std::to_string(d.train.size()) + "/" + std::to_string(d.val.size());
  return d;
}

Dataset load_dataset(const DataSource& src, int threads) {
  if (!src.train_folder.empty()) return load_folder_dataset(src.train_folder, src.slides.window.patch_size, threads);
  return load_slides_dataset(src.slides, threads);
}

}  // namespace ds
