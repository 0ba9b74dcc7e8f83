// deepslide geojson: window predictions as QuPath GeoJSON (infer/geojson_predictions.h).
#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "infer/geojson_predictions.h"

namespace ds::cli {

void register_geojson(CLI::App& app, Globals&) {
  struct Opts {
    GeoJsonFromPredictions g;
    std::string content = "tiles";
  };
  auto o = std::make_shared<Opts>();
  auto* sub = app.add_subcommand("geojson", "Write window predictions as QuPath GeoJSON (File > Import objects)");
  sub->add_option("--predictions", o->g.predictions, "A prediction CSV, or predict.json for every slide it lists")
      ->required();
  sub->add_option("--out", o->g.out, "Output folder (<slide>.geojson), or a .geojson file for one CSV")->required();
  sub->add_option("--window-side", o->g.window_side, "Window side in level-0 pixels (default: from predict.json)");
  sub->add_option("--geojson", o->content, "tiles (a square per window), contours (per-class outlines) or both")
      ->capture_default_str();
  sub->add_option("--object-type", o->g.geojson.object_type, "QuPath object type of windows: tile|detection")
      ->capture_default_str();
  sub->callback([o] {
    GeoJsonFromPredictions g = o->g;
    g.geojson.content = parse_geojson_content(o->content);
    for (const std::string& f : write_geojson_from_predictions(g)) std::cout << "geojson: wrote " << f << "\n";
  });
}

}  // namespace ds::cli
