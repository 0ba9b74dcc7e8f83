// Where predict puts a slide's outputs, and how search, evaluate, visualize and report find
// them again. Outputs are named after the slide's path relative to the slide folder (--all-wsi),
// extension included, never after its stem alone: a/s.svs and b/s.tif are two slides and get two
// CSVs. The path is flattened into one file name with '%' -> "%25" and '/' -> "%2F"
// ("a/s.svs" -> "a%2Fs.svs"), which is reversible and so unique. A name longer than 200 bytes
// is cut to 160 and ends in "%h" and 16 hex digits of the path's FNV-1a hash ("%h" never comes
// out of the escaping, so a cut name cannot equal an uncut one).
//
// predict.json's "slides" object maps each name to its entry (img and gt as in the label CSV,
// the slide path, "csv", window geometry, timings); a label row's CSV is the one of the entry
// with the same img and gt. A folder without predict.json (prediction CSVs made by hand or by
// another program) is looked up by the naming rule applied to the row.
#pragma once
#include <string>

#include <nlohmann/json.hpp>

namespace ds {

struct SlideLabel;

// The output name of a slide at `relative_path` (relative to the slide folder, '/'-separated).
std::string slide_output_name(const std::string& relative_path);
// `slide_path` relative to `all_wsi`, lexically normalized, '/'-separated.
std::string slide_relative_path(const std::string& all_wsi, const std::string& slide_path);

// predict.json of a prediction folder (absent: an empty index that falls back on the rule).
class PredictionIndex {
 public:
  explicit PredictionIndex(const std::string& preds_dir);
  // The name of the row's outputs: from predict.json's entry with the same img and gt, else the
  // first of rule(img), rule(gt/img) whose CSV exists, else rule(img). Never guessed from a stem.
  std::string name_for(const SlideLabel& row) const;
  std::string csv_of(const std::string& name) const;  // preds_dir/<name>.csv
  // Why the outputs called `name` may not be read ("" when they may). With predict.json: it must
  // list them (a CSV it does not list, left by a run with other settings or a failed redo, is not
  // this run's), and the CSV must be one predict finished, its key file beside it describing it
  // (a redo that started, removing the key file, and was stopped leaves the old CSV: not this
  // run's either). Without predict.json (CSVs made by hand, the rule alone): the CSV must exist.
  std::string refusal(const std::string& name) const;
  const nlohmann::json& json() const { return j_; }
  bool has_file() const { return has_file_; }
  const std::string& path() const { return path_; }

 private:
  std::string dir_, path_;
  nlohmann::json j_;
  bool has_file_ = false;
};

}  // namespace ds
