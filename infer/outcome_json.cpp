// Slide outcomes to JSON text and back (see outcome_json.h).
#include "infer/outcome_json.h"

namespace ds {

using json = nlohmann::json;
using ojson = nlohmann::ordered_json;

json stats_to_json(const SlidePredictStats& s) {
  return {{"candidates", s.candidates},     {"windows", s.windows},           {"resumed", s.resumed},
          {"scan_seconds", s.scan_seconds}, {"read_seconds", s.read_seconds}, {"net_seconds", s.net_seconds},
          {"seconds", s.seconds},           {"commits", s.commits},           {"commit_seconds", s.commit_seconds}};
}

SlidePredictStats stats_from_json(const json& j) {
  SlidePredictStats s;
  s.candidates = j.at("candidates");
  s.windows = j.at("windows");
  s.resumed = j.at("resumed");
  s.scan_seconds = j.at("scan_seconds");
  s.read_seconds = j.at("read_seconds");
  s.net_seconds = j.at("net_seconds");
  s.seconds = j.at("seconds");
  s.commits = j.at("commits");
  s.commit_seconds = j.at("commit_seconds");
  return s;
}

namespace {

// What predict's outcome and diagnose's event both say about a slide's prediction.
template <class T>
void put_prediction(json& j, const T& r) {
  j["stats"] = stats_to_json(r.stats);
  j["partial_note"] = r.partial_note;
  j["annotated"] = r.annotated;
  j["outside_roi"] = r.outside_roi;
}

template <class T>
void get_prediction(const json& j, T& r) {
  r.stats = stats_from_json(j.at("stats"));
  r.partial_note = j.at("partial_note");
  r.annotated = j.at("annotated");
  r.outside_roi = j.at("outside_roi");
}

}  // namespace

std::string encode_outcome(const SlideOutcome& r, const ojson& entry) {
  json j = {{"img", r.img},
            {"name", r.name},
            {"status", (int)r.status},
            {"csv", r.csv},
            {"redo_reason", r.redo_reason},
            {"error", r.error},
            {"entry", entry.dump()}};
  put_prediction(j, r);
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

SlideOutcome decode_outcome(const std::string& text, ojson& entry) {
  const json j = json::parse(text);
  SlideOutcome r;
  r.img = j.at("img");
  r.name = j.at("name");
  r.status = (SlideOutcome::Status)j.at("status").get<int>();
  r.csv = j.at("csv");
  r.redo_reason = j.at("redo_reason");
  r.error = j.at("error");
  get_prediction(j, r);
  entry = ojson::parse(j.at("entry").get<std::string>());
  return r;
}

std::string with_new_hashes(const std::string& text, FileHashCache& hashes) {
  return json{{"item", text}, {"hashes", hashes.take_added()}}.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string adopt_new_hashes(const std::string& text, FileHashCache& hashes) {
  const json j = json::parse(text);
  hashes.adopt(j.at("hashes"));
  return j.at("item").get<std::string>();
}

std::string encode_event(const DiagnoseEvent& e) {
  const Diagnosis& d = e.d;
  json j = {{"status", (int)e.status},
            {"slide", d.slide},
            {"name", d.name},
            {"gt", d.gt},
            {"diagnosis", d.diagnosis},
            {"scores", d.scores},
            {"windows", d.windows},
            {"tissue_mm2", d.tissue_mm2},
            {"seconds", d.seconds},
            {"why", e.why},
            {"reused_windows", e.reused_windows}};
  put_prediction(j, e);
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

DiagnoseEvent decode_event(const std::string& text) {
  const json j = json::parse(text);
  DiagnoseEvent e;
  e.status = (DiagnoseEvent::Status)j.at("status").get<int>();
  Diagnosis& d = e.d;
  d.slide = j.at("slide");
  d.name = j.at("name");
  d.gt = j.at("gt");
  d.diagnosis = j.at("diagnosis");
  d.scores = j.at("scores").get<std::vector<double>>();
  d.windows = j.at("windows");
  d.tissue_mm2 = j.at("tissue_mm2");
  d.seconds = j.at("seconds");
  e.why = j.at("why");
  e.reused_windows = j.at("reused_windows");
  get_prediction(j, e);
  return e;
}

}  // namespace ds
