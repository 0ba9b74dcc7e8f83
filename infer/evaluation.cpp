// metrics.json's keys (one list, walked by a writer and by a reader) and the evaluate stage.
#include "infer/evaluation.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>

#include "base/atomic_file.h"
#include "base/error.h"
#include "base/json_bounded.h"
#include "infer/aggregator.h"
#include "infer/labelled_predictions.h"

namespace fs = std::filesystem;

namespace ds {

namespace {

using ojson = nlohmann::ordered_json;
using json = nlohmann::json;
constexpr bool kRequired = true;

// Puts each visited value into a JSON object, in visiting order.
class Writer {
 public:
  explicit Writer(ojson& j) : j_(j) {}
  template <class T>
  void value(const char* key, const T& v, bool = false) {
    j_[key] = v;
  }
  void number(const char* key, double v, bool = false) { j_[key] = std::isnan(v) ? ojson(nullptr) : ojson(v); }
  void interval(const char* key, const Interval& v) { j_[key] = {v.lo, v.hi}; }
  void note(const char* key, const char* text) { j_[key] = text; }  // for readers of the file only
  template <class T>
  void resize(const T&, size_t) {}
  template <class F>
  void object(const std::string& key, bool, F&& visit) {
    Writer sub(j_[key] = ojson::object());
    visit(sub);
  }
  template <class T, class F>
  void optional_object(const char* key, const std::optional<T>& v, F&& visit) {
    if (!v) return;
    Writer sub(j_[key] = ojson::object());
    visit(sub, *v);
  }

 private:
  ojson& j_;
};

// Takes each visited value back out of a JSON object; a missing required key is an InputError.
class Reader {
 public:
  Reader(const json& j, const std::string& where, std::string prefix = "")
      : j_(j), where_(where), prefix_(std::move(prefix)) {}
  template <class T>
  void value(const char* key, T& v, bool required = false) {
    if (const json* x = find(key, required)) v = x->get<T>();
  }
  void number(const char* key, double& v, bool required = false) {
    const json* x = find(key, required);
    v = !x || x->is_null() ? std::numeric_limits<double>::quiet_NaN() : x->get<double>();
  }
  void interval(const char* key, Interval& v) {
    const auto lo_hi = find(key, kRequired)->get<std::vector<double>>();
    if (lo_hi.size() != 2) throw InputError(where_, prefix_ + key + " must be [low, high]");
    v = {lo_hi[0], lo_hi[1]};
  }
  void note(const char*, const char*) {}
  template <class T>
  void resize(std::vector<T>& v, size_t n) {
    v.resize(n);
  }
  template <class F>
  void object(const std::string& key, bool required, F&& visit) {
    if (const json* x = find(key, required)) {
      Reader sub(*x, where_, prefix_ + key + ".");
      visit(sub);
    }
  }
  template <class T, class F>
  void optional_object(const char* key, std::optional<T>& v, F&& visit) {
    if (const json* x = find(key, false)) {
      Reader sub(*x, where_, prefix_ + key + ".");
      visit(sub, v.emplace());
    }
  }

 private:
  const json* find(const std::string& key, bool required) const {
    if (j_.is_object())
      if (auto it = j_.find(key); it != j_.end()) return &*it;
    if (required) throw InputError(where_, "missing key " + prefix_ + key);
    return nullptr;
  }
  const json& j_;
  const std::string& where_;
  std::string prefix_;
};

template <class Io, class C>
void class_keys(Io& io, C& c) {
  io.value("support", c.support);
  io.value("predicted", c.predicted);
  io.number("accuracy", c.recall);  // DeepSlide's name for a class's recall
  io.number("precision", c.precision);
  io.number("recall", c.recall);
  io.number("f1", c.f1);
  io.number("auc", c.auc);
}

// metrics.json in file order. E is const Evaluation for the Writer, Evaluation for the Reader;
// the required keys are the ones the report cannot do without.
template <class Io, class E>
void evaluation_keys(Io& io, E& e) {
  io.value("aggregator", e.aggregator);
  io.value("slides", e.slides);
  io.value("classes", e.classes, kRequired);
  io.value("windows", e.windows);
  io.number("window_accuracy", e.window_accuracy);
  io.number("accuracy", e.metrics.accuracy, kRequired);
  io.number("mean_class_accuracy", e.metrics.mean_class_accuracy, kRequired);
  io.number("macro_precision", e.metrics.macro_precision);
  io.number("macro_recall", e.metrics.macro_recall);
  io.number("macro_f1", e.metrics.macro_f1, kRequired);
  io.number("macro_auc", e.metrics.macro_auc, kRequired);
  io.value("confusion", e.metrics.confusion, kRequired);
  io.object("per_class", kRequired, [&](Io& per_class) {
    io.resize(e.metrics.per_class, e.classes.size());
    for (size_t k = 0; k < e.classes.size(); ++k)
      per_class.object(e.classes[k], kRequired, [&](Io& c) { class_keys(c, e.metrics.per_class[k]); });
  });
  io.optional_object("ci95", e.ci, [](Io& c, auto& ci) {
    c.note("method", "percentile bootstrap over slides");
    c.value("resamples", ci.resamples, kRequired);
    c.value("seed", ci.seed, kRequired);
    c.interval("accuracy", ci.accuracy);
    c.interval("macro_f1", ci.macro_f1);
    c.interval("mean_class_accuracy", ci.mean_class_accuracy);
  });
  io.optional_object("roc", e.roc, [&](Io& r, auto& curves) {
    io.resize(curves, e.classes.size());
    for (size_t k = 0; k < e.classes.size(); ++k) r.value(e.classes[k].c_str(), curves[k]);
  });
}

// The aggregator's decision for every slide.
std::vector<SlideDecision> decide(const Aggregator& agg, const LabelledPredictions& lp) {
  std::vector<SlideDecision> d;
  for (const auto& s : lp.slides) d.push_back(agg.apply(s));
  return d;
}

Evaluation score(const LabelledPredictions& lp, const std::vector<SlideDecision>& decisions,
                 const std::string& aggregator, int bootstrap, uint64_t seed) {
  const int K = (int)lp.classes.size();
  std::vector<int> pred;
  std::vector<std::vector<double>> scores;
  for (const SlideDecision& d : decisions) {
    pred.push_back(d.predicted);
    scores.push_back(d.score);
  }
  Evaluation e;
  e.aggregator = aggregator;
  e.slides = (int64_t)lp.slides.size();
  e.classes = lp.classes;
  int64_t right = 0;
  for (size_t i = 0; i < lp.slides.size(); ++i) {
    e.windows += lp.slides[i].patches();
    right += lp.slides[i].votes[(size_t)lp.gt[i]];
  }
  e.window_accuracy = e.windows > 0 ? (double)right / (double)e.windows : std::numeric_limits<double>::quiet_NaN();
  e.metrics = compute_metrics(lp.gt, pred, scores, K);
  e.ci = bootstrap_ci(lp.gt, pred, K, bootstrap, seed);
  e.roc.emplace();
  for (int k = 0; k < K; ++k) {
    std::vector<double> s;
    std::vector<bool> pos;
    for (size_t i = 0; i < pred.size(); ++i) {
      s.push_back(scores[i][(size_t)k]);
      pos.push_back(lp.gt[i] == k);
    }
    RocCurve& curve = e.roc->emplace_back();
    for (const RocPoint& p : roc_curve(s, pos)) curve.emplace_back(p.fpr, p.tpr);
  }
  return e;
}

// slides.csv: img,gt,predicted,score_<class>...,patches
std::string slides_csv_text(const LabelledPredictions& lp, const std::vector<SlideDecision>& decisions) {
  std::string sl = "img,gt,predicted";
  for (const auto& c : lp.classes) sl += ",score_" + c;
  sl += ",patches\n";
  char buf[64];
  for (size_t i = 0; i < decisions.size(); ++i) {
    sl += lp.imgs[i] + "," + lp.classes[(size_t)lp.gt[i]] + "," + lp.classes[(size_t)decisions[i].predicted];
    for (double v : decisions[i].score) {
      std::snprintf(buf, sizeof buf, ",%.6g", v);
      sl += buf;
    }
    sl += "," + std::to_string(lp.slides[i].patches()) + "\n";
  }
  return sl;
}

}  // namespace

nlohmann::ordered_json Evaluation::to_json() const {
  ojson j;
  Writer w(j);
  evaluation_keys(w, *this);
  return j;
}

Evaluation Evaluation::from_json(const nlohmann::json& j, const std::string& where) {
  Evaluation e;
  Reader r(j, where);
  try {
    evaluation_keys(r, e);
  } catch (const nlohmann::json::exception& x) {
    throw InputError(where, std::string("not a valid metrics.json: ") + x.what());
  }
  const size_t K = e.classes.size();
  const bool square =
      e.metrics.confusion.size() == K && std::all_of(e.metrics.confusion.begin(), e.metrics.confusion.end(),
                                                     [&](const std::vector<int64_t>& row) { return row.size() == K; });
  if (!square) throw InputError(where, "confusion is not one row and one column per class");
  // Older files have neither key; a present one must make sense (get<int64_t> of 1e30 would not).
  if (j.contains("windows") && !(j["windows"].is_number_integer() && j["windows"].get<int64_t>() >= 0))
    throw InputError(where, "windows must be a whole number, 0 or more");
  if (!std::isnan(e.window_accuracy) && !(e.window_accuracy >= 0 && e.window_accuracy <= 1))
    throw InputError(where, "window_accuracy must be between 0 and 1");
  return e;
}

Evaluation read_evaluation(const std::string& path) { return Evaluation::from_json(read_json_file(path), path); }

std::string confusion_csv_text(const Evaluation& e) {
  std::string conf = "gt\\predicted";
  for (const auto& c : e.classes) conf += "," + c;
  conf += "\n";
  for (size_t a = 0; a < e.classes.size(); ++a) {
    conf += e.classes[a];
    for (size_t b = 0; b < e.classes.size(); ++b) conf += "," + std::to_string(e.metrics.confusion[a][b]);
    conf += "\n";
  }
  return conf;
}

Evaluation evaluate(const EvaluateOptions& o) {
  DS_CHECK_INPUT(o.bootstrap >= 1, "--bootstrap must be at least 1");
  const json aj = read_json_file(o.aggregator);
  const Aggregator agg = Aggregator::from_json(aj, o.aggregator);
  const LabelledPredictions lp = load_labelled_predictions(o.preds, o.labels);
  if (lp.classes != agg.classes) throw InputError(o.aggregator, "classes differ from the prediction CSVs'");
  const std::vector<SlideDecision> decisions = decide(agg, lp);
  const Evaluation e = score(lp, decisions, aj.value("name", agg.method), o.bootstrap, o.seed);
  fs::create_directories(o.out);
  write_text_atomic((fs::path(o.out) / "metrics.json").string(), e.to_json().dump(2) + "\n");
  write_text_atomic((fs::path(o.out) / "confusion.csv").string(), confusion_csv_text(e));
  write_text_atomic((fs::path(o.out) / "slides.csv").string(), slides_csv_text(lp, decisions));
  return e;
}

}  // namespace ds
