// QuPath GeoJSON of window predictions (see geojson_export.h). One feature per line, so a large
// file can still be read and diffed.
#include "infer/geojson_export.h"

#include <nlohmann/json.hpp>

#include "base/atomic_file.h"
#include "base/error.h"
#include "infer/class_contours.h"
#include "infer/colormap.h"
#include "infer/prediction_csv.h"

namespace ds {

namespace {

using ojson = nlohmann::ordered_json;

ojson classification(const std::vector<std::string>& classes, size_t k) {
  const Rgb c = deepslide_class_color(k);
  return {{"name", classes[k]}, {"color", {c.r, c.g, c.b}}};
}

ojson ring_json(const Ring& r) {
  ojson a = ojson::array();
  for (const Point& p : r) a.push_back({p.x, p.y});
  a.push_back({r[0].x, r[0].y});  // GeoJSON rings are closed
  return a;
}

ojson tile_feature(const WindowProbabilities& w, const std::vector<std::string>& classes, const std::string& type) {
  const int k = argmax_class(w.probs.data(), w.probs.size());
  const int64_t x1 = w.x + w.side, y1 = w.y + w.side;
  ojson m = ojson::object();
  for (size_t c = 0; c < classes.size(); ++c) m["prob_" + classes[c]] = w.probs[c];
  return {
      {"type", "Feature"},
      {"geometry", {{"type", "Polygon"}, {"coordinates", {{{w.x, w.y}, {x1, w.y}, {x1, y1}, {w.x, y1}, {w.x, w.y}}}}}},
      {"properties",
       {{"objectType", type}, {"classification", classification(classes, (size_t)k)}, {"measurements", m}}}};
}

std::vector<ojson> contour_features(const std::vector<WindowProbabilities>& windows,
                                    const std::vector<std::string>& classes) {
  std::vector<Square> all;
  for (const auto& w : windows) all.push_back({w.x, w.y, w.side});
  const int64_t step = grid_step_of(all);
  std::vector<std::vector<Square>> per_class(classes.size());
  for (const auto& w : windows)
    per_class[(size_t)argmax_class(w.probs.data(), w.probs.size())].push_back({w.x, w.y, w.side});
  std::vector<ojson> out;
  for (size_t c = 0; c < classes.size(); ++c) {
    if (per_class[c].empty()) continue;
    ojson polys = ojson::array();
    for (const Polygon& p : union_outline(per_class[c], step)) {
      ojson rings = ojson::array();
      for (const Ring& r : p.rings) rings.push_back(ring_json(r));
      polys.push_back(rings);
    }
    out.push_back({{"type", "Feature"},
                   {"geometry", {{"type", "MultiPolygon"}, {"coordinates", polys}}},
                   {"properties",
                    {{"objectType", "annotation"},
                     {"name", classes[c]},
                     {"classification", classification(classes, c)},
                     {"measurements", {{"windows", per_class[c].size()}}}}}});
  }
  return out;
}

}  // namespace

GeoJsonContent parse_geojson_content(const std::string& s) {
  if (s == "tiles") return GeoJsonContent::tiles;
  if (s == "contours") return GeoJsonContent::contours;
  if (s == "both") return GeoJsonContent::both;
  throw InputError("--geojson must be tiles, contours or both, got '" + s + "'");
}

std::string qupath_geojson(const std::vector<WindowProbabilities>& windows, const std::vector<std::string>& classes,
                           const GeoJsonOptions& opt) {
  DS_CHECK_INPUT(opt.object_type == "tile" || opt.object_type == "detection",
                 "GeoJSON object type must be tile or detection, got '" + opt.object_type + "'");
  for (const auto& w : windows)
    DS_CHECK_INPUT(w.probs.size() == classes.size() && !classes.empty() && w.side > 0,
                   "GeoJSON: a window's probabilities do not match the class list");
  std::vector<ojson> features;
  if (opt.content != GeoJsonContent::tiles) features = contour_features(windows, classes);
  std::string s = "{\"type\":\"FeatureCollection\",\"features\":[";
  bool first = true;
  auto add = [&](const ojson& f) {
    s += first ? "\n" : ",\n";
    s += f.dump();
    first = false;
  };
  for (const ojson& f : features) add(f);
  if (opt.content != GeoJsonContent::contours)
    for (const auto& w : windows) add(tile_feature(w, classes, opt.object_type));
  s += "\n]}\n";
  return s;
}

void write_qupath_geojson(const std::string& path, const std::vector<WindowProbabilities>& windows,
                          const std::vector<std::string>& classes, const GeoJsonOptions& opt) {
  write_text_atomic(path, qupath_geojson(windows, classes, opt));
}

}  // namespace ds
