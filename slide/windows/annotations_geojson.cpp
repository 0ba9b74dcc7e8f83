// QuPath GeoJSON annotations in: File > Export objects as GeoJSON writes a FeatureCollection (or,
// from scripts, a bare array of features); each feature's geometry is a Polygon or MultiPolygon
// in level-0 pixels, its class in properties.classification ({"name": ..., "color": [r, g, b]};
// derived classes as "names", which QuPath shows joined by ": "). Points and lines bound no
// area and are refused rather than dropped silently.
#include <cmath>

#include "base/error.h"
#include "base/json_bounded.h"
#include "slide/windows/annotations.h"

namespace ds {

namespace {

using Json = nlohmann::json;

struct FeatureError {
  const std::string& path;
  size_t index;
  [[noreturn]] void fail(const std::string& why) const {
    throw InputError(path, "feature " + std::to_string(index) + ": " + why);
  }
};

Ring parse_ring(const Json& j, const FeatureError& e) {
  if (!j.is_array()) e.fail("a polygon ring is not an array of positions");
  Ring r;
  for (const Json& pos : j) {
    if (!pos.is_array() || pos.size() < 2 || !pos[0].is_number() || !pos[1].is_number())
      e.fail("a position is not an array of two numbers");
    const Point q{pos[0].get<double>(), pos[1].get<double>()};
    if (!std::isfinite(q.x) || !std::isfinite(q.y)) e.fail("a coordinate is not finite");
    r.push_back(q);
  }
  if (r.size() >= 2 && r.front().x == r.back().x && r.front().y == r.back().y) r.pop_back();  // closed ring
  if (r.size() < 3) e.fail("a polygon ring has fewer than 3 distinct vertices");
  return r;
}

Polygon parse_polygon(const Json& j, const FeatureError& e) {
  if (!j.is_array() || j.empty()) e.fail("Polygon coordinates are not a non-empty array of rings");
  Polygon p;
  for (const Json& ring : j) p.rings.push_back(parse_ring(ring, e));
  return p;
}

std::string class_name(const Json& props, const FeatureError& e) {
  if (!props.is_object() || !props.contains("classification")) return "";
  const Json& c = props["classification"];
  if (c.is_null()) return "";
  if (c.is_string()) return c.get<std::string>();
  if (!c.is_object()) e.fail("properties.classification is neither an object nor a string");
  if (c.contains("name") && c["name"].is_string()) return c["name"].get<std::string>();
  if (c.contains("names") && c["names"].is_array()) {
    std::string s;
    for (const Json& n : c["names"]) {
      if (!n.is_string()) e.fail("properties.classification.names holds a non-string");
      s += (s.empty() ? "" : ": ") + n.get<std::string>();
    }
    return s;
  }
  e.fail("properties.classification has no name");
}

Annotation parse_feature(const Json& f, const FeatureError& e) {
  if (!f.is_object()) e.fail("not a JSON object");
  if (f.contains("type") && f["type"] != "Feature") e.fail("type is not \"Feature\"");
  if (!f.contains("geometry") || !f["geometry"].is_object()) e.fail("no geometry object");
  const Json& g = f["geometry"];
  const std::string type = string_or(g, "type");
  if (!g.contains("coordinates")) e.fail("geometry has no coordinates");
  Annotation a;
  a.cls = class_name(f.value("properties", Json::object()), e);
  if (type == "Polygon") {
    a.polygons.push_back(parse_polygon(g["coordinates"], e));
  } else if (type == "MultiPolygon") {
    if (!g["coordinates"].is_array() || g["coordinates"].empty()) e.fail("MultiPolygon without polygons");
    for (const Json& p : g["coordinates"]) a.polygons.push_back(parse_polygon(p, e));
  } else {
    e.fail("geometry type '" + type + "' bounds no area (Polygon or MultiPolygon expected)");
  }
  return a;
}

}  // namespace

SlideAnnotations parse_geojson_annotations(const std::string& text, const std::string& path) {
  const Json root = parse_json_bounded(text, path);
  const Json* features = nullptr;
  Json single;
  if (root.is_array()) {
    features = &root;
  } else if (root.is_object() && string_or(root, "type") == "FeatureCollection") {
    if (!root.contains("features") || !root["features"].is_array())
      throw InputError(path, "FeatureCollection without a features array");
    features = &root["features"];
  } else if (root.is_object() && string_or(root, "type") == "Feature") {
    single = Json::array({root});
    features = &single;
  } else {
    throw InputError(path, "not a GeoJSON FeatureCollection, Feature or array of features");
  }
  SlideAnnotations out;
  out.path = path;
  for (size_t i = 0; i < features->size(); ++i) out.items.push_back(parse_feature((*features)[i], {path, i}));
  return out;
}

}  // namespace ds
