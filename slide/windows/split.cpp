// Slide listing and the train/val/test split.
#include "slide/windows/split.h"

#include <algorithm>
#include <filesystem>

#include "base/error.h"
#include "base/hash.h"
#include "base/rng.h"

namespace fs = std::filesystem;

namespace ds {

static std::string lower_extension(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return (char)std::tolower(c); });
  return ext;
}

bool is_slide_file(const std::string& filename) {
  const std::string ext = lower_extension(filename);
  // DICOM is not listed: a series is a folder of instance files, not one file per slide.
  static const char* kExts[] = {".tif", ".tiff", ".svs",  ".btf", ".tf8",  ".ndpi",
                                ".bif", ".scn",  ".mrxs", ".jpg", ".jpeg", ".png"};
  for (const char* e : kExts)
    if (ext == e) return true;
  return false;
}

std::vector<std::string> list_classes(const std::string& all_wsi) {
  if (!fs::is_directory(all_wsi)) throw InputError(all_wsi, "not a folder");
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(all_wsi)) {
    std::string name = e.path().filename().string();
    if (e.is_directory() && !name.empty() && name[0] != '.') out.push_back(name);
  }
  std::sort(out.begin(), out.end());
  if (out.empty()) throw InputError(all_wsi, "no class folders (expected one sub-folder per class)");
  return out;
}

std::vector<std::string> list_slides(const std::string& class_dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(class_dir)) {
    std::string name = e.path().filename().string();
    if (e.is_regular_file() && name[0] != '.' && is_slide_file(name)) out.push_back(name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

SplitResult split_slides(const std::string& all_wsi, int val_per_class, int test_per_class,
                         std::optional<uint64_t> seed) {
  DS_CHECK_INPUT(val_per_class >= 0 && test_per_class >= 0, "split: per-class counts must be >= 0");
  SplitResult r;
  for (const std::string& cls : list_classes(all_wsi)) {
    std::vector<std::string> files = list_slides((fs::path(all_wsi) / cls).string());
    const int need = val_per_class + test_per_class + 1;
    if ((int)files.size() < need)
      throw InputError((fs::path(all_wsi) / cls).string(), "class '" + cls + "' has " + std::to_string(files.size()) +
                                                               " slides, needs at least " + std::to_string(need) +
                                                               " (" + std::to_string(val_per_class) + " val + " +
                                                               std::to_string(test_per_class) + " test + 1 train)");
    if (seed) {
      // Hash of the class name: each class shuffles differently, the same on every platform.
      Rng rng(*seed ^ fnv1a(cls.data(), cls.size(), kFnvOffsetLegacy));
      for (size_t i = files.size(); i > 1; --i) std::swap(files[i - 1], files[rng.uniform_int(i)]);
    }
    const size_t test_idx = files.size() - test_per_class, val_idx = test_idx - val_per_class;
    for (size_t i = 0; i < files.size(); ++i) {
      SlideLabel row{cls + "/" + files[i], cls};
      (i < val_idx ? r.train : i < test_idx ? r.val : r.test).push_back(row);
    }
  }
  return r;
}

static void materialize_set(const std::string& all_wsi, const fs::path& dir, const std::vector<SlideLabel>& rows,
                            Materialize how) {
  for (const auto& row : rows) {
    fs::path src = fs::absolute(fs::path(all_wsi) / row.img);
    fs::path dst = dir / row.img;
    fs::create_directories(dst.parent_path());
    std::error_code ec;
    fs::remove(dst, ec);
    if (how == Materialize::copy) fs::copy_file(src, dst, fs::copy_options::overwrite_existing, ec);
    else fs::create_symlink(src, dst, ec);
    // A MIRAX .mrxs is read with the folder of its name beside it: that goes along.
    const fs::path src_folder = fs::path(src).replace_extension(""), dst_folder = fs::path(dst).replace_extension("");
    if (!ec && lower_extension(src) == ".mrxs" && fs::is_directory(src_folder)) {
      fs::remove_all(dst_folder, ec);
      if (how == Materialize::copy)
        fs::copy(src_folder, dst_folder, fs::copy_options::recursive | fs::copy_options::overwrite_existing, ec);
      else fs::create_directory_symlink(src_folder, dst_folder, ec);
    }
    if (ec)
      throw InputError(dst.string(),
                       "cannot " + std::string(how == Materialize::copy ? "copy" : "link") + " slide: " + ec.message());
  }
}

void write_split(const std::string& all_wsi, const std::string& out_dir, const SplitResult& s, Materialize how) {
  // A name the label CSVs cannot hold (a newline, a comma, a class that is a formula) is refused
  // before anything is written, naming the slide.
  for (const std::vector<SlideLabel>* set : {&s.train, &s.val, &s.test})
    for (const SlideLabel& r : *set)
      if (std::string why = label_row_reason(r); !why.empty())
        throw InputError((fs::path(all_wsi) / r.img).string(), "cannot be listed in a label CSV: " + why);
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec) throw InputError(out_dir, "cannot create folder: " + ec.message());
  write_labels_csv((fs::path(out_dir) / "labels_train.csv").string(), s.train);
  write_labels_csv((fs::path(out_dir) / "labels_val.csv").string(), s.val);
  write_labels_csv((fs::path(out_dir) / "labels_test.csv").string(), s.test);
  if (how == Materialize::none) return;
  materialize_set(all_wsi, fs::path(out_dir) / "wsi_train", s.train, how);
  materialize_set(all_wsi, fs::path(out_dir) / "wsi_val", s.val, how);
  materialize_set(all_wsi, fs::path(out_dir) / "wsi_test", s.test, how);
}

}  // namespace ds
