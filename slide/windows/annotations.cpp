// Annotation files: format detection, the slide's file in an annotations folder, bounds checks.
// The parsers are annotations_geojson.cpp, annotations_asap.cpp and annotations_aperio.cpp.
#include "slide/windows/annotations.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "base/error.h"
#include "base/json_bounded.h"
#include "base/regular_file.h"
#include "base/safe_names.h"
#include "slide/windows/xml_tags.h"

namespace fs = std::filesystem;

namespace ds {

SlideAnnotations read_annotations(const std::string& path) {
  require_regular_file(path);
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path, "cannot open");
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  if (size < 0) throw InputError(path, "cannot read");
  if ((uint64_t)size > kMaxJsonBytes)
    throw InputError(path, "annotation file of " + std::to_string(size) + " bytes is larger than the " +
                               std::to_string(kMaxJsonBytes >> 20) + " MB limit");
  in.seekg(0);
  std::string text((size_t)size, '\0');
  in.read(text.data(), size);
  if (!in) throw InputError(path, "cannot read");
  const size_t first = text.find_first_not_of(" \t\r\n\xEF\xBB\xBF");
  SlideAnnotations a;
  if (first != std::string::npos && (text[first] == '{' || text[first] == '['))
    a = parse_geojson_annotations(text, path);
  else if (first != std::string::npos && text[first] == '<') {
    const std::string root = xml_root_name(text, path);
    if (root == "ASAP_Annotations") a = parse_asap_annotations(text, path);
    else if (root == "Annotations") a = parse_aperio_annotations(text, path);
    else
      throw InputError(path, "XML whose root element <" + root +
                                 "> is neither ASAP's <ASAP_Annotations> nor Aperio ImageScope's <Annotations>");
  } else throw InputError(path, "neither GeoJSON nor XML (expected '{', '[' or '<' first)");
  // An annotation's class may name a folder (patches) or be a training label: one plain name.
  check_annotation_classes(a, unsafe_component_reason);
  return a;
}

void check_annotation_classes(const SlideAnnotations& a, std::string (*reason)(const std::string&)) {
  for (size_t i = 0; i < a.items.size(); ++i)
    if (!a.items[i].cls.empty())
      if (const std::string why = reason(a.items[i].cls); !why.empty())
        throw InputError(a.path, (a.items[i].where.empty() ? "annotation " + std::to_string(i) : a.items[i].where) +
                                     ": class '" + quoted_for_message(a.items[i].cls) + "': " + why);
}

void check_annotations_inside(const SlideAnnotations& a, int64_t width, int64_t height) {
  for (size_t i = 0; i < a.items.size(); ++i)
    for (const Polygon& p : a.items[i].polygons)
      for (const Ring& r : p.rings)
        for (const Point& q : r)
          if (!(q.x >= 0 && q.y >= 0 && q.x <= (double)width && q.y <= (double)height)) {
            std::ostringstream m;
            m << (a.items[i].where.empty() ? "feature " + std::to_string(i) : a.items[i].where) << ": vertex (" << q.x
              << ", " << q.y << ") lies outside the slide (" << width << " x " << height << " level-0 pixels)";
            throw InputError(a.path, m.str());
          }
}

std::optional<std::string> find_annotation_file(const std::string& dir, const std::string& slide_path) {
  const std::string stem = fs::path(slide_path).stem().string();
  for (const char* ext : {".geojson", ".json", ".xml"}) {
    const fs::path p = fs::path(dir) / (stem + ext);
    if (fs::is_regular_file(p)) return p.string();
  }
  return std::nullopt;
}

std::optional<SlideAnnotations> load_slide_annotations(const std::string& dir, const std::string& slide_path,
                                                       int64_t width, int64_t height) {
  if (!fs::is_directory(dir)) throw InputError(dir, "annotations folder not found");
  const auto file = find_annotation_file(dir, slide_path);
  if (!file) return std::nullopt;
  SlideAnnotations a = read_annotations(*file);
  check_annotations_inside(a, width, height);
  return a;
}

}  // namespace ds
