// Stage 5, search: picks the slide-level aggregation on the validation slides by mean class
// accuracy (search_aggregators, infer/aggregator.h) and writes OUT/aggregator.json (the chosen
// aggregator, how it was chosen, every candidate) and one CSV per candidate in DeepSlide's
// inference format (OUT/candidates/<name>.csv).
#pragma once
#include <string>
#include <vector>

#include "infer/aggregator.h"

namespace ds {

struct SearchOptions {
  std::string preds;               // folder of prediction CSVs
  std::string labels;              // label CSV (img,gt) of the validation slides
  std::string out;                 // output folder
  std::vector<double> thresholds;  // confidence thresholds to try
};

struct SearchOutcome {
  SearchResult result;
  size_t validation_slides = 0;
  std::string aggregator_json;  // the path written
};

// The whole stage; prints nothing.
SearchOutcome choose_aggregator(const SearchOptions& opt);

}  // namespace ds
