// `deepslide bundle`: a model file and the aggregator `search` chose become one bundle
// (infer/bundle.h). Window settings not given come from aggregator.json's "windows" (which
// search copies from the predict.json of the predictions it chose on, so the recipe is what the
// aggregator was validated with); level/mpp, overlap or tissue method missing from both is an
// error naming the flag to give (the filter's parameters fall back to predict's defaults).
#pragma once
#include <map>
#include <optional>
#include <string>

#include "infer/bundle.h"

namespace ds {

struct BundleOptions {
  std::string model;       // model file (best.safetensors)
  std::string aggregator;  // search's aggregator.json
  std::string out;         // the bundle to write
  // Given on the command line: these win over aggregator.json's window settings.
  std::optional<int> level;
  std::optional<double> mpp;
  std::optional<double> overlap;
  std::optional<std::string> tissue;
  std::optional<int> purple_threshold, purple_scale;
  std::optional<double> otsu_min_fraction;
};

struct BundleMade {
  Recipe recipe;
  nlohmann::ordered_json provenance;
  std::map<std::string, std::string> sources;  // recipe field -> where its value came from
  // Where the recipe reads slides otherwise than the predictions the aggregator was chosen on (a
  // --level or --mpp of its own): what to tell the user, else "".
  std::string resolution_note;
};

// Builds the recipe and provenance and writes the bundle atomically; prints nothing.
BundleMade make_bundle(const BundleOptions& opt);

}  // namespace ds
