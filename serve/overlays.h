// The JSON the viewer's overlays are drawn from: a slide's window predictions (from its run's
// prediction CSV) with the diagnosis when diagnose made it, and its annotation file as GeoJSON.
// docs/formats.md ("deepslide serve") specifies both.
#pragma once
#include <string>

#include <nlohmann/json.hpp>

#include "serve/catalog.h"

namespace ds {

// `/api/slides`: one entry per served slide (id, name, size, levels, mpp, what overlays exist).
nlohmann::json slide_list_json(const Catalog& c);
// `/api/slides/<id>/predictions`: classes, their colours, window side, windows as
// [x, y, class index, p_0, ..., p_k-1] (probabilities rounded to 1e-4) and the diagnosis (its
// `slide` the file name only, without diagnose's `out` folder: no server path goes to a client).
// InputError naming the CSV when it does not read. No windows, and `refused` saying why, when the
// CSV is not one predict or diagnose finished (infer/prediction_key.h finished_refusal).
nlohmann::json predictions_json(const ServedSlide& s);
// `/api/slides/<id>/annotations`: the annotation file (GeoJSON, ASAP or Aperio XML) read by the
// project's reader and written back as a GeoJSON FeatureCollection of Polygons with closed rings,
// `properties.name` the class ("" when none). An empty collection when the slide has no file.
nlohmann::json annotations_geojson(const ServedSlide& s);
// The files an overlay is made from (`what`: "predictions": the CSV and its key file;
// "annotations": the annotation file) by size, modification time and inode: the server keeps an
// overlay's JSON while this stays the same and makes it again when it changes (predict redoing a
// slide, a stopped redo removing its key file).
std::string overlay_sources_stamp(const ServedSlide& s, const std::string& what);

}  // namespace ds
