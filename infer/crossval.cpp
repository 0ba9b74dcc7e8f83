// The cross-validation summary (see crossval.h).
#include "infer/crossval.h"

#include <algorithm>
#include <cmath>

#include "base/atomic_file.h"
#include "base/error.h"
#include "base/json_bounded.h"
#include "infer/evaluation.h"

namespace ds {

namespace {

using json = nlohmann::ordered_json;

// NaN is written as null (JSON has no NaN) and read back as NaN.
json number_or_null(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

double number_at(const json& j, const char* key, const std::string& where) {
  if (!j.contains(key)) throw InputError(where, std::string("no \"") + key + "\"");
  const json& v = j[key];
  if (v.is_null()) return NAN;
  if (!v.is_number()) throw InputError(where, std::string("\"") + key + "\" is not a number");
  return v.get<double>();
}

}  // namespace

MetricSpread spread(const std::string& name, const std::vector<double>& values) {
  MetricSpread s;
  s.name = name;
  s.values = values;
  std::vector<double> v;
  for (double x : values)
    if (std::isfinite(x)) v.push_back(x);
  s.n = (int)v.size();
  if (v.empty()) {
    s.mean = s.sd = s.min = s.max = NAN;
    return s;
  }
  double sum = 0;
  for (double x : v) sum += x;
  s.mean = sum / (double)v.size();
  double ss = 0;
  for (double x : v) ss += (x - s.mean) * (x - s.mean);
  s.sd = v.size() < 2 ? NAN : std::sqrt(ss / (double)(v.size() - 1));
  s.min = *std::min_element(v.begin(), v.end());
  s.max = *std::max_element(v.begin(), v.end());
  return s;
}

json CrossValidation::to_json() const {
  json j;
  j["folds"] = folds;
  j["slides"] = slides;
  json m = json::object();
  for (const MetricSpread& s : metrics) {
    json values = json::array();
    for (double v : s.values) values.push_back(number_or_null(v));
    m[s.name] = {{"values", values},
                 {"n", s.n},
                 {"mean", number_or_null(s.mean)},
                 {"sd", number_or_null(s.sd)},
                 {"min", number_or_null(s.min)},
                 {"max", number_or_null(s.max)}};
  }
  j["metrics"] = m;
  return j;
}

CrossValidation CrossValidation::from_json(const json& j, const std::string& where) {
  CrossValidation c;
  try {
    c.folds = j.at("folds").get<std::vector<std::string>>();
    c.slides = j.at("slides").get<std::vector<int64_t>>();
    for (const auto& [name, m] : j.at("metrics").items()) {
      MetricSpread s;
      s.name = name;
      for (const auto& v : m.at("values")) s.values.push_back(v.is_null() ? NAN : v.get<double>());
      s.n = m.at("n").get<int>();
      s.mean = number_at(m, "mean", where);
      s.sd = number_at(m, "sd", where);
      s.min = number_at(m, "min", where);
      s.max = number_at(m, "max", where);
      c.metrics.push_back(s);
    }
  } catch (const nlohmann::json::exception& e) {
    throw InputError(where, std::string("not a cross-validation summary: ") + e.what());
  }
  if (c.slides.size() != c.folds.size()) throw InputError(where, "\"slides\" and \"folds\" differ in length");
  return c;
}

CrossValidation summarize_folds(const std::vector<std::string>& names, const std::vector<std::string>& metrics_paths) {
  CrossValidation c;
  c.folds = names;
  std::vector<double> acc, mca, f1, auc;
  for (const std::string& p : metrics_paths) {
    const Evaluation e = read_evaluation(p);
    c.slides.push_back(e.slides);
    acc.push_back(e.metrics.accuracy);
    mca.push_back(e.metrics.mean_class_accuracy);
    f1.push_back(e.metrics.macro_f1);
    auc.push_back(e.metrics.macro_auc);
  }
  c.metrics = {spread("accuracy", acc), spread("mean_class_accuracy", mca), spread("macro_f1", f1),
               spread("macro_auc", auc)};
  return c;
}

void write_crossval(const CrossValidation& c, const std::string& path) {
  write_text_atomic(path, c.to_json().dump(2) + "\n");
}

CrossValidation read_crossval(const std::string& path) {
  return CrossValidation::from_json(read_json_file<json>(path), path);
}

}  // namespace ds
