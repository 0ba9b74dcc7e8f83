// Window predictions as QuPath GeoJSON (File > Import objects, or drag the file onto the slide),
// following QuPath's own GeoJSON (qupath.lib.io, v0.4 on): a FeatureCollection of Features,
// coordinates in level-0 pixels with the origin at the top-left; properties.objectType "tile"
// or "detection" for windows and "annotation" for contours; properties.classification
// {"name", "color": [r, g, b]} (DeepSlide's class colours, as visualize draws them);
// properties.measurements an object of name -> number ("prob_<class>" per class).
//   tiles:    one square Polygon per window (closed ring), its predicted class and probabilities
//   contours: one MultiPolygon per predicted class: the union of that class's windows
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace ds {

struct WindowProbabilities {
  int64_t x = 0, y = 0;      // level-0 top-left corner
  int64_t side = 0;          // level-0 side
  std::vector<float> probs;  // one per class, in class order
};

enum class GeoJsonContent { tiles, contours, both };
GeoJsonContent parse_geojson_content(const std::string& s);  // tiles|contours|both, InputError otherwise

struct GeoJsonOptions {
  GeoJsonContent content = GeoJsonContent::tiles;
  std::string object_type = "tile";  // of window features: "tile" or "detection"
};

std::string qupath_geojson(const std::vector<WindowProbabilities>& windows, const std::vector<std::string>& classes,
                           const GeoJsonOptions& opt = {});
void write_qupath_geojson(const std::string& path, const std::vector<WindowProbabilities>& windows,
                          const std::vector<std::string>& classes, const GeoJsonOptions& opt = {});  // atomic

}  // namespace ds
