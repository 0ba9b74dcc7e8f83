// Overlay JSON built from the files the catalog located at start-up; a request never chooses a
// file. Probabilities are rounded to 1e-4 (a colour or a percentage on screen needs no more) so a
// slide's hundred thousand windows stay a few megabytes.
#include "serve/overlays.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <vector>

#include <sys/stat.h>

#include "infer/colormap.h"
#include "infer/prediction_csv.h"
#include "infer/prediction_key.h"
#include "slide/windows/annotations.h"

namespace ds {

namespace {

std::string hex_color(Rgb c) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "#%02x%02x%02x", c.r, c.g, c.b);
  return buf;
}

double round4(double v) { return std::round(v * 1e4) / 1e4; }

nlohmann::json ring_json(const Ring& r) {
  nlohmann::json a = nlohmann::json::array();
  for (const Point& p : r) a.push_back({p.x, p.y});
  if (!r.empty()) a.push_back({r.front().x, r.front().y});  // GeoJSON rings are closed
  return a;
}

}  // namespace

nlohmann::json slide_list_json(const Catalog& c) {
  nlohmann::json list = nlohmann::json::array();
  for (const ServedSlide& s : c.slides()) {
    const Slide& sl = *s.slide;
    nlohmann::json e = {{"id", s.id},
                        {"name", std::filesystem::path(s.path).filename().string()},
                        {"width", sl.level(0).width},
                        {"height", sl.level(0).height},
                        {"levels", sl.level_count()},
                        {"vendor", sl.vendor()},
                        {"dzi", "/slides/" + s.id + ".dzi"},
                        {"predictions", s.source.empty() ? nlohmann::json(nullptr) : nlohmann::json(s.source)},
                        {"annotations", !s.annotations.empty()}};
    e["mpp_x"] = sl.mpp_x() ? nlohmann::json(*sl.mpp_x()) : nlohmann::json(nullptr);
    e["mpp_y"] = sl.mpp_y() ? nlohmann::json(*sl.mpp_y()) : nlohmann::json(nullptr);
    e["diagnosis"] = s.diagnosis.is_object() && s.diagnosis.contains("diagnosis") ? s.diagnosis["diagnosis"]
                                                                                  : nlohmann::json(nullptr);
    list.push_back(std::move(e));
  }
  return list;
}

namespace {

// diagnose's result as a client sees it: the slide's file name, not its path, and no output
// folder (where the server keeps its files is not the client's business).
nlohmann::json client_diagnosis(nlohmann::json result) {
  if (!result.is_object()) return result;
  result.erase("out");
  if (result.contains("slide") && result["slide"].is_string())
    result["slide"] = std::filesystem::path(result["slide"].get<std::string>()).filename().string();
  return result;
}

}  // namespace

nlohmann::json predictions_json(const ServedSlide& s) {
  nlohmann::json j = {{"id", s.id},
                      {"source", s.source.empty() ? nlohmann::json(nullptr) : nlohmann::json(s.source)},
                      {"window_side", s.window_side},
                      {"classes", nlohmann::json::array()},
                      {"colors", nlohmann::json::array()},
                      {"windows", nlohmann::json::array()},
                      {"diagnosis", s.diagnosis.is_null() ? nlohmann::json(nullptr) : client_diagnosis(s.diagnosis)}};
  if (s.source.empty()) return j;
  // Only a CSV its command finished (the key file beside it describes it), as search and evaluate
  // read them: a redo that was stopped leaves the CSV of the slide's old bytes. Checked on each
  // request, since predict may be redoing the slide while the server runs.
  if (std::string why = finished_refusal(s.csv); !why.empty()) {
    // (Without the server's folders: only file names go to a client.)
    const std::string dir = std::filesystem::path(s.csv).parent_path().string() + "/";
    for (size_t at; (at = why.find(dir)) != std::string::npos;) why.erase(at, dir.size());
    j["refused"] = std::filesystem::path(s.csv).filename().string() + ": " + why;
    return j;
  }
  const SlidePredictions p = read_prediction_csv(s.csv);
  for (size_t k = 0; k < p.classes.size(); ++k) {
    j["classes"].push_back(p.classes[k]);
    j["colors"].push_back(hex_color(deepslide_class_color(k)));
  }
  nlohmann::json& w = j["windows"];
  for (const PatchPrediction& q : p.patches) {
    nlohmann::json row = {q.x, q.y, q.prediction};
    for (float v : q.probs) row.push_back(round4(v));
    w.push_back(std::move(row));
  }
  return j;
}

nlohmann::json annotations_geojson(const ServedSlide& s) {
  nlohmann::json fc = {{"type", "FeatureCollection"}, {"features", nlohmann::json::array()}};
  if (s.annotations.empty()) return fc;
  const SlideAnnotations a = read_annotations(s.annotations);
  for (const Annotation& an : a.items) {
    for (const Polygon& poly : an.polygons) {
      nlohmann::json rings = nlohmann::json::array();
      for (const Ring& r : poly.rings) rings.push_back(ring_json(r));
      fc["features"].push_back({{"type", "Feature"},
                                {"geometry", {{"type", "Polygon"}, {"coordinates", rings}}},
                                {"properties", {{"name", an.cls}}}});
    }
  }
  return fc;
}

std::string overlay_sources_stamp(const ServedSlide& s, const std::string& what) {
  std::vector<std::string> files;
  if (what == "predictions" && !s.source.empty())
    files = {s.csv, std::filesystem::path(s.csv).replace_extension(".key.json").string()};
  else if (what == "annotations" && !s.annotations.empty()) files = {s.annotations};
  std::string stamp;
  for (const std::string& f : files) {
    struct stat st {};
    if (::stat(f.c_str(), &st) != 0) {
      stamp += "-;";
      continue;
    }
    stamp += std::to_string((long long)st.st_size) + ":" + std::to_string((long long)st.st_mtim.tv_sec) + "." +
             std::to_string((long long)st.st_mtim.tv_nsec) + ":" + std::to_string((unsigned long long)st.st_ino) + ";";
  }
  return stamp;
}

}  // namespace ds
