// What `deepslide serve` shows: the slides named on its command line, each opened once (the
// reader's tile cache then serves every request for it), under an id made from its file name.
// An argument is a slide file, a folder of slide files, a `predict` output folder (predict.json
// lists its slides and CSVs) or a `diagnose` output folder (one sub-folder per slide with
// diagnosis.json and windows.csv; one such sub-folder may be named by itself). A request names
// only ids; the files behind them are fixed here, at start-up.
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "serve/deep_zoom.h"
#include "slide/reader/slide.h"

namespace ds {

struct ServedSlide {
  std::string id;    // [A-Za-z0-9._-], at most 64 bytes: the slide's file name, made unique
  std::string path;  // the slide file
  std::shared_ptr<const Slide> slide;
  DeepZoom dz;
  // Predictions, when the slide came from a run folder ("" otherwise).
  std::string source;        // "predict" or "diagnose"
  std::string run;           // the folder named on the command line
  std::string csv;           // the slide's prediction CSV
  int64_t window_side = 0;   // level-0 side of a window
  nlohmann::json diagnosis;  // diagnose's result (diagnosis, confidence, scores, ...), or null
  std::string annotations;   // an annotation file (QuPath GeoJSON, ASAP or Aperio XML), or ""
};

struct CatalogOptions {
  std::vector<std::string> inputs;                 // SLIDE_OR_RUN_DIR...
  std::string annotations;                         // --annotations DIR: <slide stem>.geojson/.json/.xml, or ""
  size_t cache_bytes = Slide::kDefaultCacheBytes;  // per slide file
};

class Catalog {
 public:
  // InputError naming the argument or file and the reason (no slide found, a run folder's slide
  // missing, a file the reader refuses, a JSON that does not parse). Prediction CSVs are read
  // only when a client asks for them (a bad one is then a 500 naming it).
  explicit Catalog(const CatalogOptions& o);
  const std::vector<ServedSlide>& slides() const { return slides_; }
  const ServedSlide* find(const std::string& id) const;  // null for an unknown id

 private:
  void add(ServedSlide s, const std::string& annotations_dir);
  void add_predict_run(const std::filesystem::path& run, const CatalogOptions& o);
  void add_diagnosed(const std::filesystem::path& dir, const std::filesystem::path& run, const CatalogOptions& o);
  std::shared_ptr<const Slide> open(const std::string& path, size_t cache_bytes);
  std::vector<ServedSlide> slides_;
  std::map<std::string, size_t> by_id_;
  std::map<std::string, std::shared_ptr<const Slide>> opened_;  // by canonical path: one cache per file
};

// The id a file name gives: characters outside [A-Za-z0-9._-] become '_', cut to 64 bytes.
std::string slide_id_base(const std::string& path);

}  // namespace ds
