// Writing and strict reading of the per-slide prediction CSVs.
#include "infer/prediction_csv.h"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "base/atomic_file.h"
#include "base/bounded_lines.h"
#include "base/error.h"
#include "base/regular_file.h"

namespace ds {

int argmax_class(const float* probs, size_t k) {
  size_t best = 0;
  for (size_t i = 1; i < k; ++i)
    if (probs[i] > probs[best]) best = i;
  return (int)best;
}

std::string prediction_csv_header(const std::vector<std::string>& classes) {
  std::string s = "x,y,prediction,confidence";
  for (const auto& c : classes) s += ",prob_" + c;
  return s + "\n";
}

void append_prediction_rows(std::string& s, const std::vector<std::string>& classes,
                            const std::vector<PatchPrediction>& patches) {
  char buf[64];
  for (const auto& r : patches) {
    s += std::to_string(r.x) + "," + std::to_string(r.y) + "," + classes[(size_t)r.prediction];
    std::snprintf(buf, sizeof buf, ",%.6g", r.confidence);
    s += buf;
    for (float v : r.probs) {
      std::snprintf(buf, sizeof buf, ",%.6g", v);
      s += buf;
    }
    s += "\n";
  }
}

std::string prediction_csv_text(const SlidePredictions& p) {
  std::string s = prediction_csv_header(p.classes);
  append_prediction_rows(s, p.classes, p.patches);
  return s;
}

void write_prediction_csv(const std::string& path, const SlidePredictions& p) {
  std::string s = prediction_csv_text(p);
  write_file_atomic(path, s.data(), s.size());
}

// More windows than any slide yields: a 200,000 x 100,000 px slide at 224 px windows and
// overlap 3 has 3.6 million; the bound stops a file of endless rows before memory does.
constexpr size_t kMaxPredictionRows = 1u << 24;

static std::vector<std::string> split_commas(const std::string& line) {
  std::vector<std::string> out;
  std::string cur;
  std::istringstream in(line);
  while (std::getline(in, cur, ',')) out.push_back(cur);
  if (!line.empty() && line.back() == ',') out.push_back("");
  return out;
}

static double parse_number(const std::string& s, const std::string& where) {
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(s, &used);
  } catch (...) {
    used = 0;
  }
  if (used == 0 || used != s.size() || !std::isfinite(v)) throw InputError(where, "not a number: '" + s + "'");
  return v;
}

// A window's corner: a whole number of level-0 pixels in [0, 2^31). Slides are at most 2^20 px a
// side; a larger value would overflow the int arithmetic of whatever maps it onto a thumbnail.
static int64_t parse_coordinate(const std::string& s, const std::string& where) {
  const double v = parse_number(s, where);
  if (!(v >= 0 && v < 2147483648.0) || v != std::floor(v))
    throw InputError(where, "window coordinate must be a whole number in [0, 2^31), got '" + s + "'");
  return (int64_t)v;
}

SlidePredictions read_prediction_csv(const std::string& path) {
  require_regular_file(path);
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path, "cannot open prediction CSV");
  std::string line;
  if (!read_bounded_line(in, line, path, 1))
    throw InputError(path, "empty file, expected header x,y,prediction,confidence,prob_<class>...");
  strip_utf8_bom(line);  // a CSV saved by a spreadsheet program
  if (!line.empty() && line.back() == '\r') line.pop_back();
  auto head = split_commas(line);
  if (head.size() < 6 || head[0] != "x" || head[1] != "y" || head[2] != "prediction" || head[3] != "confidence")
    throw InputError(
        path, "header must be x,y,prediction,confidence,prob_<class>... (two classes or more), got '" + line + "'");
  SlidePredictions p;
  for (size_t i = 4; i < head.size(); ++i) {
    if (head[i].rfind("prob_", 0) != 0 || head[i].size() == 5)
      throw InputError(path, "header column " + std::to_string(i + 1) + " must be prob_<class>, got '" + head[i] + "'");
    p.classes.push_back(head[i].substr(5));
  }
  const size_t K = p.classes.size();
  int64_t lineno = 1;
  while (read_bounded_line(in, line, path, lineno + 1)) {
    ++lineno;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    if (p.patches.size() >= kMaxPredictionRows)
      throw InputError(path, "more than " + std::to_string(kMaxPredictionRows) + " windows");
    const std::string where = path + ":" + std::to_string(lineno);
    auto f = split_commas(line);
    if (f.size() != K + 4)
      throw InputError(where, "expected " + std::to_string(K + 4) + " fields, got " + std::to_string(f.size()));
    PatchPrediction r;
    r.x = parse_coordinate(f[0], where);
    r.y = parse_coordinate(f[1], where);
    r.prediction = -1;
    for (size_t k = 0; k < K; ++k)
      if (p.classes[k] == f[2]) r.prediction = (int)k;
    if (r.prediction < 0) throw InputError(where, "prediction '" + f[2] + "' is not one of the header's classes");
    r.confidence = (float)parse_number(f[3], where);
    for (size_t k = 0; k < K; ++k) {
      double v = parse_number(f[4 + k], where);
      if (v < 0 || v > 1) throw InputError(where, "probability out of [0, 1]: " + f[4 + k]);
      r.probs.push_back((float)v);
    }
    if (r.confidence < 0 || r.confidence > 1) throw InputError(where, "confidence out of [0, 1]: " + f[3]);
    p.patches.push_back(std::move(r));
  }
  return p;
}

}  // namespace ds
