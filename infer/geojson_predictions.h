// `deepslide geojson`: prediction CSVs to QuPath GeoJSON (geojson_export.h). The window side
// comes from predict.json (window_side per slide) when it is given or lies beside the CSV,
// else from --window-side.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "infer/geojson_export.h"

namespace ds {

struct GeoJsonFromPredictions {
  std::string predictions;  // a prediction CSV, or predict.json (every slide it lists)
  std::string out;          // a folder (<stem>.geojson), or with one CSV a file ending .geojson/.json
  int64_t window_side = 0;  // level-0 side; 0: from predict.json
  GeoJsonOptions geojson;
};

// Writes the files; returns their paths.
std::vector<std::string> write_geojson_from_predictions(const GeoJsonFromPredictions& o);

}  // namespace ds
