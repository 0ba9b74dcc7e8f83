// Label CSV reading/writing and slide path resolution.
#include "slide/windows/labels_csv.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "base/atomic_file.h"
#include "base/bounded_lines.h"
#include "base/error.h"
#include "base/regular_file.h"
#include "base/safe_names.h"

namespace fs = std::filesystem;

namespace ds {

constexpr size_t kMaxLabelRows = 1u << 20;

static std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n"), e = s.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

// Both fields become parts of output paths (a class folder, a slide's CSV) and cells of the CSVs
// written from them.
std::string label_row_reason(const SlideLabel& r) {
  if (std::string why = r.gt.empty() ? "" : unsafe_class_name_reason(r.gt); !why.empty())
    return "class name '" + quoted_for_message(r.gt) + "' " + why;
  std::string why = unsafe_relative_path_reason(r.img);
  if (why.empty()) why = unsafe_csv_cell_reason(r.img);
  return why.empty() ? "" : "slide path '" + quoted_for_message(r.img) + "' " + why;
}

std::vector<SlideLabel> read_labels_csv(const std::string& path, bool gt_optional) {
  require_regular_file(path);
  std::ifstream in(path);
  if (!in) throw InputError(path, "cannot open label CSV");
  std::string line;
  if (!read_bounded_line(in, line, path, 1)) throw InputError(path, "empty label CSV (expected header img,gt)");
  strip_utf8_bom(line);
  std::string header = trim(line);
  header.erase(std::remove(header.begin(), header.end(), ' '), header.end());
  const bool img_only = gt_optional && header == "img";
  if (header != "img,gt" && !img_only)
    throw InputError(path, "header is '" + trim(line) + "', expected img,gt" + (gt_optional ? " or img" : ""));
  std::vector<SlideLabel> rows;
  std::set<std::string> seen;
  int lineno = 1;
  while (read_bounded_line(in, line, path, lineno + 1)) {
    ++lineno;
    if (rows.size() >= kMaxLabelRows) throw InputError(path, "more than " + std::to_string(kMaxLabelRows) + " slides");
    if (trim(line).empty()) continue;
    size_t comma = line.find(',');
    if (img_only) {
      if (comma != std::string::npos)
        throw InputError(path, "line " + std::to_string(lineno) + ": expected one field img (the header has no gt)");
      comma = line.size();
    } else if (comma == std::string::npos || line.find(',', comma + 1) != std::string::npos)
      throw InputError(path, "line " + std::to_string(lineno) + ": expected two fields img,gt");
    SlideLabel r{trim(line.substr(0, comma)), comma < line.size() ? trim(line.substr(comma + 1)) : std::string()};
    if (r.img.empty() || (r.gt.empty() && !gt_optional))
      throw InputError(path, "line " + std::to_string(lineno) + ": empty img or gt");
    // Both become parts of output paths (a class folder, a slide's CSV): they must stay inside.
    if (std::string why = label_row_reason(r); !why.empty())
      throw InputError(path, "line " + std::to_string(lineno) + ": " + why);
    if (!seen.insert(fs::path(r.img).lexically_normal().generic_string()).second)  // ("./a/s.tif" is "a/s.tif")
      throw InputError(path, "line " + std::to_string(lineno) + ": slide '" + r.img + "' listed twice");
    rows.push_back(r);
  }
  return rows;
}

void write_labels_csv(const std::string& path, const std::vector<SlideLabel>& rows_in) {
  std::vector<SlideLabel> rows = rows_in;
  std::sort(rows.begin(), rows.end(), [](const SlideLabel& a, const SlideLabel& b) { return a.img < b.img; });
  std::ostringstream out;
  out << "img,gt\n";
  for (const auto& r : rows) {  // what read_labels_csv would refuse is not written
    if (std::string why = label_row_reason(r); !why.empty()) throw InputError(path, why);
    out << r.img << "," << r.gt << "\n";
  }
  std::string s = out.str();
  write_file_atomic(path, s.data(), s.size());
}

std::string resolve_slide_path(const std::string& all_wsi, const SlideLabel& row, const std::string& csv_path) {
  fs::path direct = fs::path(all_wsi) / row.img;
  if (fs::is_regular_file(direct)) return direct.string();
  fs::path in_class = fs::path(all_wsi) / row.gt / row.img;
  if (fs::is_regular_file(in_class)) return in_class.string();
  throw InputError(csv_path, "slide '" + row.img + "' not found under " + all_wsi);
}

std::vector<std::string> label_classes(const std::vector<SlideLabel>& rows) {
  std::set<std::string> s;
  for (const auto& r : rows) s.insert(r.gt);
  return {s.begin(), s.end()};
}

}  // namespace ds
