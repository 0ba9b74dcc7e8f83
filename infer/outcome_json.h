// A slide's outcome as JSON text, to travel from the rank that did the slide to rank 0 (which
// prints it and writes the run's summary files; dist/work_queue.h). Alone the same round trip is
// taken, so one code path serves both. Doubles keep every bit (nlohmann writes the shortest text
// that reads back the same value), so a summary written from a decoded outcome is byte-identical.
#pragma once
#include <string>

#include <nlohmann/json.hpp>

#include "base/file_hash_cache.h"
#include "infer/diagnose.h"
#include "infer/predict.h"

namespace ds {

nlohmann::json stats_to_json(const SlidePredictStats& s);
SlidePredictStats stats_from_json(const nlohmann::json& j);

// predict: the outcome and its predict.json entry (null when the slide was not predicted).
std::string encode_outcome(const SlideOutcome& r, const nlohmann::ordered_json& entry);
SlideOutcome decode_outcome(const std::string& text, nlohmann::ordered_json& entry);

// An item's text with the slide hashes its rank remembered while doing it (FileHashCache::
// take_added), and back on rank 0, which adopts them into the cache it saves: so the next run
// reads no slide again, whichever rank hashed it.
std::string with_new_hashes(const std::string& text, FileHashCache& hashes);
std::string adopt_new_hashes(const std::string& text, FileHashCache& hashes);

// diagnose: the event (its Diagnosis included).
std::string encode_event(const DiagnoseEvent& e);
DiagnoseEvent decode_event(const std::string& text);

}  // namespace ds
