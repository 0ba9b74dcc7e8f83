// Aggregator (de)serialisation and the stage 5 search over aggregation methods.
#include "infer/aggregator.h"

#include <algorithm>
#include <cstdio>

#include "base/error.h"

namespace ds {

SlideDecision Aggregator::apply(const SlideSummary& s) const {
  DS_CHECK_INPUT(s.votes.size() == classes.size(), s.name + ": prediction CSV has " + std::to_string(s.votes.size()) +
                                                       " classes, the aggregator " + std::to_string(classes.size()));
  if (method == "threshold") return threshold_rule(s, thresholds);
  if (method == "majority") return majority_vote(s);
  if (method == "mean_probability") return mean_probability(s);
  DS_CHECK(method == "logistic", "unknown aggregator method " + method);
  SlideDecision d;
  d.score = logistic.predict_proba(slide_features(s));
  d.count = s.votes;
  d.predicted = first_argmax(d.score);
  return d;
}

nlohmann::ordered_json Aggregator::to_json() const {
  nlohmann::ordered_json j;
  j["method"] = method;
  j["classes"] = classes;
  if (method == "threshold") {
    nlohmann::ordered_json t = nlohmann::ordered_json::object();
    for (size_t k = 0; k < classes.size(); ++k) t[classes[k]] = thresholds[k];
    j["thresholds"] = t;
  }
  if (method == "logistic") {
    j["features"] = "vote fraction per class, then mean probability per class";
    j["lambda"] = logistic.lambda;
    std::vector<std::vector<double>> w;
    for (int k = 0; k < logistic.num_classes; ++k)
      w.emplace_back(logistic.weights.begin() + k * logistic.num_features,
                     logistic.weights.begin() + (k + 1) * logistic.num_features);
    j["weights"] = w;
    j["bias"] = logistic.bias;
  }
  return j;
}

Aggregator Aggregator::from_json(const nlohmann::json& j, const std::string& where) {
  try {
    Aggregator a;
    a.method = j.at("method").get<std::string>();
    a.classes = j.at("classes").get<std::vector<std::string>>();
    if (a.classes.size() < 2) throw InputError(where, "needs at least two classes");
    if (a.method == "threshold") {
      for (const auto& c : a.classes) {
        double t = j.at("thresholds").at(c).get<double>();
        if (!(t >= 0 && t <= 1)) throw InputError(where, "threshold of " + c + " not in [0, 1]");
        a.thresholds.push_back(t);
      }
    } else if (a.method == "logistic") {
      auto w = j.at("weights").get<std::vector<std::vector<double>>>();
      a.logistic.bias = j.at("bias").get<std::vector<double>>();
      a.logistic.lambda = j.value("lambda", 1.0);
      a.logistic.num_classes = (int)a.classes.size();
      a.logistic.num_features = (int)(2 * a.classes.size());
      if (w.size() != a.classes.size() || a.logistic.bias.size() != a.classes.size())
        throw InputError(where, "logistic weights/bias need one row per class");
      for (const auto& row : w) {
        if ((int)row.size() != a.logistic.num_features)
          throw InputError(where, "logistic weights need 2 x classes columns");
        a.logistic.weights.insert(a.logistic.weights.end(), row.begin(), row.end());
      }
    } else if (a.method != "majority" && a.method != "mean_probability") {
      throw InputError(where, "unknown method '" + a.method + "'");
    }
    return a;
  } catch (const nlohmann::json::exception& e) {
    throw InputError(where, std::string("not a valid aggregator: ") + e.what());
  }
}

static Candidate evaluate_candidate(std::string name, Aggregator agg, const std::vector<SlideSummary>& slides,
                                    const std::vector<int>& gt) {
  Candidate c;
  c.name = std::move(name);
  c.agg = std::move(agg);
  std::vector<int> pred;
  for (const auto& s : slides) {
    c.decisions.push_back(c.agg.apply(s));
    pred.push_back(c.decisions.back().predicted);
  }
  c.mean_class_accuracy = mean_class_accuracy(gt, pred, (int)c.agg.classes.size());
  return c;
}

SearchResult search_aggregators(const std::vector<SlideSummary>& slides, const std::vector<int>& gt,
                                const std::vector<std::string>& classes, std::vector<double> grid) {
  DS_CHECK_INPUT(!slides.empty(), "search: no validation slides");
  DS_CHECK_INPUT(!grid.empty(), "search: no thresholds");
  std::sort(grid.begin(), grid.end());
  grid.erase(std::unique(grid.begin(), grid.end()), grid.end());
  const size_t K = classes.size();
  SearchResult r;
  auto add = [&](Candidate c) {
    r.candidates.push_back(std::move(c));
    if (r.candidates.back().mean_class_accuracy > r.candidates[r.best].mean_class_accuracy)
      r.best = r.candidates.size() - 1;
  };
  Aggregator base;
  base.classes = classes;
  base.method = "threshold";
  size_t best_shared = 0;
  for (double t : grid) {
    Aggregator a = base;
    a.thresholds.assign(K, t);
    char name[64];
    std::snprintf(name, sizeof name, "shared_%g", t);
    add(evaluate_candidate(name, a, slides, gt));
    if (r.candidates.back().mean_class_accuracy > r.candidates[best_shared].mean_class_accuracy)
      best_shared = r.candidates.size() - 1;
  }
  // Coordinate search over per-class thresholds.
  std::vector<double> th = r.candidates[best_shared].agg.thresholds;
  double best_mca = r.candidates[best_shared].mean_class_accuracy;
  for (int sweep = 0; sweep < 20; ++sweep) {
    bool improved = false;
    for (size_t k = 0; k < K; ++k)
      for (double t : grid) {
        std::vector<double> trial = th;
        trial[k] = t;
        Aggregator a = base;
        a.thresholds = trial;
        Candidate c = evaluate_candidate("per_class", a, slides, gt);
        if (c.mean_class_accuracy > best_mca) {
          best_mca = c.mean_class_accuracy;
          th = trial;
          improved = true;
        }
      }
    if (!improved) break;
  }
  Aggregator pc = base;
  pc.thresholds = th;
  add(evaluate_candidate("per_class", pc, slides, gt));
  Aggregator maj = base;
  maj.method = "majority";
  add(evaluate_candidate("majority", maj, slides, gt));
  Aggregator mp = base;
  mp.method = "mean_probability";
  add(evaluate_candidate("mean_probability", mp, slides, gt));
  r.logistic_offered = logistic_allowed(gt, (int)K);
  if (r.logistic_offered) {
    std::vector<std::vector<double>> x;
    for (const auto& s : slides) x.push_back(slide_features(s));
    Aggregator lr = base;
    lr.method = "logistic";
    lr.logistic = fit_logistic(x, gt, (int)K);
    add(evaluate_candidate("logistic", lr, slides, gt));
  }
  return r;
}

std::string inference_csv_text(const std::vector<std::string>& imgs, const std::vector<SlideDecision>& d,
                               const std::vector<std::string>& classes) {
  std::string s = "img,predicted";
  for (const auto& c : classes) s += ",percent_" + c;
  for (const auto& c : classes) s += ",count_" + c;
  s += "\n";
  char buf[64];
  for (size_t i = 0; i < imgs.size(); ++i) {
    s += imgs[i] + "," + classes[(size_t)d[i].predicted];
    for (double v : d[i].score) {
      std::snprintf(buf, sizeof buf, ",%.6g", v);
      s += buf;
    }
    for (int64_t c : d[i].count) s += "," + std::to_string(c);
    s += "\n";
  }
  return s;
}

}  // namespace ds
