// The report's comparison table: other evaluations (metrics.json of `deepslide evaluate` run with
// other models or on other test slides) side by side, slide-level and window-level accuracy. The
// demo uses it for models trained with and without stain normalisation on home and shifted slides.
#pragma once
#include <string>
#include <vector>

#include "infer/evaluation.h"

namespace ds {

struct CompareRow {
  std::string label;    // what the row is, as the user wrote it
  std::string metrics;  // the metrics.json it was read from
  Evaluation eval;
};

// Each "LABEL=FOLDER" (split at the last '='; FOLDER is evaluate's output) read: InputError naming
// --compare when a spec has no '=' or an empty side, or naming the metrics.json that cannot be read.
std::vector<CompareRow> read_compare_rows(const std::vector<std::string>& specs);

// The section's HTML: a heading, then one table row per evaluation; "" when rows is empty.
std::string compare_section(const std::string& title, const std::vector<CompareRow>& rows);

// The same table as plain text, one line per row (for the terminal); "" when rows is empty.
std::string compare_text(const std::vector<CompareRow>& rows);

}  // namespace ds
