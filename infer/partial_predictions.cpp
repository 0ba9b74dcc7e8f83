// Reading and writing OUT/<name>.partial. The window list is the bulk of the first line and does
// not change between commits of a slide, so its JSON is made once (PartialPredictions keeps it)
// and each commit writes the line's head, that text and the CSV, in one atomic file.
#include "infer/partial_predictions.h"

#include <fstream>
#include <sstream>

#include "base/atomic_file.h"
#include "base/error.h"
#include "base/json_bounded.h"
#include "base/regular_file.h"

namespace ds {

namespace {

std::string windows_json(const std::vector<Window>& w) {
  std::string s = "[";
  for (size_t i = 0; i < w.size(); ++i)
    s += (i ? ",[" : "[") + std::to_string(w[i].x) + "," + std::to_string(w[i].y) + "]";
  return s + "]";
}

// Each CSV row after the header starts with its window's "x,y,"; there are exactly `rows`.
std::string csv_mismatch(const std::string& csv, const std::string& header, const std::vector<Window>& w,
                         int64_t rows) {
  if (csv.compare(0, header.size(), header) != 0) return "its CSV header differs from the model's classes";
  size_t pos = header.size();
  for (int64_t i = 0; i < rows; ++i) {
    const std::string start = std::to_string(w[(size_t)i].x) + "," + std::to_string(w[(size_t)i].y) + ",";
    const size_t end = csv.find('\n', pos);
    if (end == std::string::npos || csv.compare(pos, start.size(), start) != 0)
      return "row " + std::to_string(i + 1) + " is not window " + std::to_string(i + 1);
    pos = end + 1;
  }
  if (pos != csv.size()) return "it has more rows than it says";
  return "";
}

}  // namespace

bool read_partial(const std::string& path, const ojson& key, const std::vector<std::string>& classes,
                  PartialPredictions& out, std::string& why) {
  why.clear();
  require_regular_file(path);
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  const size_t nl = text.find('\n');
  if (nl == std::string::npos) return why = "no header line", false;
  ojson head;
  try {
    head = parse_json_bounded<ojson>(text.substr(0, nl), path);
  } catch (const InputError& e) {
    return why = e.what(), false;
  }
  try {
    if (string_or(head, "format") != "deepslide-partial" || number_or(head, "version", 0, path) != 1)
      return why = "not a deepslide partial file of version 1", false;
    const std::string diff = key_difference(head.at("key"), key);
    if (!diff.empty()) return why = "it was made by other inputs: " + diff, false;
    PartialPredictions p;
    p.key = key;
    p.candidates = head.at("candidates").get<int64_t>();
    p.rows = head.at("rows").get<int64_t>();
    for (const auto& xy : head.at("windows")) p.windows.push_back({xy.at(0).get<int64_t>(), xy.at(1).get<int64_t>()});
    if (p.rows < 0 || p.rows > (int64_t)p.windows.size()) return why = "its row count is out of range", false;
    p.csv = text.substr(nl + 1);
    const std::string bad = csv_mismatch(p.csv, prediction_csv_header(classes), p.windows, p.rows);
    if (!bad.empty()) return why = bad, false;
    out = std::move(p);
    return true;
  } catch (const nlohmann::json::exception& e) {
    return why = std::string("a field is missing or of the wrong type (") + e.what() + ")", false;
  }
}

void write_partial(const std::string& path, PartialPredictions& p) {
  if (p.windows_json.empty()) p.windows_json = windows_json(p.windows);
  ojson head;
  head["format"] = "deepslide-partial";
  head["version"] = 1;
  head["key"] = p.key;
  head["candidates"] = p.candidates;
  head["rows"] = p.rows;
  std::string line = head.dump();
  line.pop_back();  // the closing brace: the windows follow
  line += ",\"windows\":" + p.windows_json + "}\n";
  AtomicFile f(path);
  f.write(line.data(), line.size());
  f.write(p.csv.data(), p.csv.size());
  f.commit();
}

}  // namespace ds
