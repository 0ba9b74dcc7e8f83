// DeepSlide's slide label CSVs (`img,gt`): one row per slide, img relative to the all-WSI folder
// (we write `class/file`; DeepSlide's own files hold just `file`, which we also accept when the
// file is found under its class folder), gt the class name.
#pragma once
#include <string>
#include <vector>

namespace ds {

struct SlideLabel {
  std::string img;  // as written in the CSV
  std::string gt;   // class name
};

// Reads and validates a label CSV: header `img,gt`, two non-empty fields per row, no duplicate
// img. Errors name the file and line. With gt_optional (slides to diagnose, whose class may be
// unknown) the header may be `img` alone and a row's gt may be empty.
std::vector<SlideLabel> read_labels_csv(const std::string& path, bool gt_optional = false);
// Why a row cannot be in a label CSV, "" when it can: its class is not a plain class name
// (base/safe_names.h unsafe_class_name_reason), or its img is not a safe relative path that fits a
// CSV cell unquoted. read_labels_csv refuses such a row, and write_labels_csv does not write one.
std::string label_row_reason(const SlideLabel& row);
void write_labels_csv(const std::string& path, const std::vector<SlideLabel>& rows);  // atomic, sorted by img

// Resolves a row to a slide path under `all_wsi`: `all_wsi/img` when it exists, else
// `all_wsi/gt/img` (DeepSlide's bare file names). InputError naming the CSV and the slide when
// neither exists.
std::string resolve_slide_path(const std::string& all_wsi, const SlideLabel& row, const std::string& csv_path);

// Sorted distinct class names of the rows.
std::vector<std::string> label_classes(const std::vector<SlideLabel>& rows);

}  // namespace ds
