// Slide-level aggregation (infer/aggregate, infer/aggregator, infer/logistic) and prediction CSVs
// on hand-computed cases: DeepSlide's threshold rule worked out from its get_prediction
// (strictly-greater test, percent of passing patches, first class on ties, class 0 when nothing
// passes), majority / mean probability ties, the search's tie-break order and per-class
// coordinate search, the logistic fit's stationarity, and the CSV reader's errors.
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "base/error.h"
#include "base/rng.h"
#include "infer/aggregator.h"
#include "infer/logistic.h"
#include "infer/prediction_csv.h"

using namespace ds;
namespace fs = std::filesystem;

namespace {

SlidePredictions make_preds(const std::vector<std::string>& classes,
                            const std::vector<std::pair<int, float>>& pred_conf) {
  SlidePredictions p;
  p.classes = classes;
  int64_t x = 0;
  for (auto [c, conf] : pred_conf) {
    PatchPrediction r;
    r.x = x;
    r.y = 2 * x;
    x += 10;
    r.prediction = c;
    r.confidence = conf;
    const float rest = (1.f - conf) / (float)(classes.size() - 1);
    r.probs.assign(classes.size(), rest);
    r.probs[(size_t)c] = conf;
    p.patches.push_back(r);
  }
  return p;
}

const std::vector<std::string> kABC = {"a", "b", "c"};

}  // namespace

TEST_CASE("DeepSlide's threshold rule on a worked example", "[infer][aggregate]") {
  // a 0.95, a 0.55, b 0.85, b 0.65, c 0.45, b 0.5
  SlideSummary s = summarize("s", make_preds(kABC, {{0, .95f}, {0, .55f}, {1, .85f}, {1, .65f}, {2, .45f}, {1, .5f}}));
  SECTION("0.5: a 2, b 2 (0.5 is not > 0.5), c 0 -> tie, first class a") {
    SlideDecision d = threshold_rule(s, {.5, .5, .5});
    CHECK(d.count == std::vector<int64_t>{2, 2, 0});
    CHECK(d.score == std::vector<double>{.5, .5, 0});
    CHECK(d.predicted == 0);
  }
  SECTION("0.6: a 1, b 2 -> b") {
    SlideDecision d = threshold_rule(s, {.6, .6, .6});
    CHECK(d.count == std::vector<int64_t>{1, 2, 0});
    CHECK(d.score[1] == Approx(2.0 / 3));
    CHECK(d.predicted == 1);
  }
  SECTION("0.9: only a 0.95 passes -> a") { CHECK(threshold_rule(s, {.9, .9, .9}).predicted == 0); }
  SECTION("nothing passes: all percents 0 and class 0, as DeepSlide") {
    SlideDecision d = threshold_rule(s, {.99, .99, .99});
    CHECK(d.count == std::vector<int64_t>{0, 0, 0});
    CHECK(d.score == std::vector<double>{0, 0, 0});
    CHECK(d.predicted == 0);
  }
  SECTION("per-class thresholds apply to the predicted class") {
    // a needs > 0.96 (none), b > 0.6 (2), c > 0.4 (1)
    SlideDecision d = threshold_rule(s, {.96, .6, .4});
    CHECK(d.count == std::vector<int64_t>{0, 2, 1});
    CHECK(d.predicted == 1);
  }
  SECTION("majority vote and mean probability") {
    SlideDecision m = majority_vote(s);
    CHECK(m.count == std::vector<int64_t>{2, 3, 1});
    CHECK(m.predicted == 1);
    SlideDecision mp = mean_probability(s);
    // mean of prob_a: (.95 + .55 + 4 * rest terms) / 6, rests: b .85 -> .075, b .65 -> .175, c .45 -> .275, b .5 -> .25
    CHECK(mp.score[0] == Approx((.95 + .55 + .075 + .175 + .275 + .25) / 6).epsilon(1e-6));
    CHECK(mp.predicted == first_argmax(mp.score));
  }
}

TEST_CASE("ties go to the first class; an empty slide is class 0", "[infer][aggregate]") {
  SlideSummary tie = summarize("t", make_preds({"a", "b"}, {{1, .9f}, {0, .9f}}));
  CHECK(majority_vote(tie).predicted == 0);
  CHECK(mean_probability(tie).predicted == 0);
  SlideSummary empty = summarize("e", make_preds({"a", "b"}, {}));
  CHECK(empty.patches() == 0);
  CHECK(threshold_rule(empty, {.5, .5}).predicted == 0);
  CHECK(mean_probability(empty).score == std::vector<double>{0, 0});
}

TEST_CASE("mean class accuracy averages over ground-truth classes", "[infer][aggregate]") {
  // a: 2 of 3 right, b: 1 of 1, c: no slides (ignored)
  CHECK(mean_class_accuracy({0, 0, 0, 1}, {0, 0, 2, 1}, 3) == Approx((2.0 / 3 + 1.0) / 2));
}

TEST_CASE("search: shared thresholds, tie order, per-class coordinate search", "[infer][aggregate]") {
  const std::vector<std::string> ab = {"a", "b"};
  // Slide 0 (gt a): many low-confidence b patches and two confident a patches: only a threshold
  // above 0.6 makes it a. Slide 1 (gt b): confident b patches.
  std::vector<SlideSummary> slides = {
      summarize("s0", make_preds(ab, {{0, .95f}, {0, .9f}, {1, .55f}, {1, .58f}, {1, .52f}})),
      summarize("s1", make_preds(ab, {{1, .95f}, {1, .9f}, {0, .55f}}))};
  std::vector<int> gt = {0, 1};
  SearchResult r = search_aggregators(slides, gt, ab, {0.7, 0.3, 0.5});
  REQUIRE(r.candidates.size() == 6);  // 3 shared, per_class, majority, mean_probability
  CHECK(r.candidates[0].name == "shared_0.3");
  CHECK(r.candidates[1].name == "shared_0.5");
  CHECK(r.candidates[2].name == "shared_0.7");
  CHECK(r.candidates[0].mean_class_accuracy == Approx(0.5));  // s0 -> b (3 vs 2)
  CHECK(r.candidates[1].mean_class_accuracy == Approx(0.5));  // s0: a 2, b 3 -> b
  CHECK(r.candidates[2].mean_class_accuracy == Approx(1.0));
  CHECK(r.candidates[3].name == "per_class");
  CHECK(r.candidates[3].mean_class_accuracy == Approx(1.0));
  CHECK(r.best == 2);  // the first with 1.0; per_class ties and does not replace it
  CHECK_FALSE(r.logistic_offered);
  CHECK(r.candidates[4].name == "majority");
  CHECK(r.candidates[4].mean_class_accuracy == Approx(0.5));

  // A case only per-class thresholds solve: in u0 (gt a) a's patches are weak (0.6, 0.62) and b's
  // noise reaches 0.8; shared 0.3/0.5 count a 2 vs b 3, shared 0.7 leaves b 1 vs a 0. Per class
  // (a 0.3, b 0.7): a 2 vs b 1.
  std::vector<SlideSummary> s2 = {
      summarize("u0", make_preds(ab, {{0, .6f}, {0, .62f}, {1, .65f}, {1, .66f}, {1, .8f}})),
      summarize("u1", make_preds(ab, {{1, .95f}, {1, .9f}, {0, .55f}}))};
  SearchResult r2 = search_aggregators(s2, gt, ab, {0.3, 0.5, 0.7});
  for (int i = 0; i < 3; ++i) CHECK(r2.candidates[(size_t)i].mean_class_accuracy == Approx(0.5));
  CHECK(r2.candidates[3].name == "per_class");
  CHECK(r2.candidates[3].mean_class_accuracy == Approx(1.0));
  CHECK(r2.candidates[3].agg.thresholds == std::vector<double>{0.3, 0.7});
  CHECK(r2.best == 3);
}

TEST_CASE("aggregator JSON round trip and bad input", "[infer][aggregate]") {
  Aggregator a;
  a.method = "threshold";
  a.classes = {"a", "b"};
  a.thresholds = {0.3, 0.8};
  Aggregator b = Aggregator::from_json(nlohmann::json::parse(a.to_json().dump()), "agg.json");
  CHECK(b.thresholds == a.thresholds);
  CHECK_THROWS_AS(Aggregator::from_json(nlohmann::json::parse(R"({"method":"vote","classes":["a","b"]})"), "x.json"),
                  InputError);
  CHECK_THROWS_WITH(
      Aggregator::from_json(nlohmann::json::parse(R"({"method":"threshold","classes":["a","b"]})"), "x.json"),
      Catch::Contains("x.json"));
}

TEST_CASE("logistic regression: the fit is a stationary point of the penalised objective", "[infer][logistic]") {
  std::vector<std::vector<double>> x;
  std::vector<int> y;
  Rng rng(7);
  for (int i = 0; i < 60; ++i) {
    const int c = i % 3;
    x.push_back({c == 0 ? 0.7 + 0.2 * rng.uniform() : 0.3 * rng.uniform(),
                 c == 1 ? 0.6 + 0.3 * rng.uniform() : 0.4 * rng.uniform(), rng.uniform()});
    y.push_back(c);
  }
  // One mislabelled point keeps the problem non-separable.
  y[0] = 1;
  const double lambda = 0.5;
  LogisticModel m = fit_logistic(x, y, 3, lambda);
  // Gradient of sum_i -log p_{y_i} + lambda/2 |W|^2 (+1e-6/2 |b|^2), restated with plain loops.
  std::vector<double> gw(9, 0.0), gb(3, 0.0);
  int right = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    auto p = m.predict_proba(x[i]);
    right += first_argmax(p) == y[i];
    for (int k = 0; k < 3; ++k) {
      const double r = p[(size_t)k] - (y[i] == k);
      for (int d = 0; d < 3; ++d) gw[(size_t)(k * 3 + d)] += r * x[i][(size_t)d];
      gb[(size_t)k] += r;
    }
  }
  for (int j = 0; j < 9; ++j) CHECK(std::fabs(gw[(size_t)j] + lambda * m.weights[(size_t)j]) < 1e-6);
  for (int k = 0; k < 3; ++k) CHECK(std::fabs(gb[(size_t)k] + 1e-6 * m.bias[(size_t)k]) < 1e-6);
  CHECK(right >= 50);
  CHECK(logistic_allowed(y, 3));
  CHECK_FALSE(logistic_allowed({0, 0, 1}, 2));
}

TEST_CASE("prediction CSV round trip and bad files", "[infer][csv]") {
  const fs::path dir = fs::temp_directory_path() / "ds_test_infer_csv";
  fs::create_directories(dir);
  SlidePredictions p = make_preds(kABC, {{2, .5f}, {0, .875f}});
  const std::string path = (dir / "s.csv").string();
  write_prediction_csv(path, p);
  std::ifstream in(path);
  std::string header;
  std::getline(in, header);
  CHECK(header == "x,y,prediction,confidence,prob_a,prob_b,prob_c");
  SlidePredictions q = read_prediction_csv(path);
  REQUIRE(q.patches.size() == 2);
  CHECK(q.classes == kABC);
  CHECK(q.patches[1].x == 10);
  CHECK(q.patches[1].y == 20);
  CHECK(q.patches[1].prediction == 0);
  CHECK(q.patches[1].confidence == .875f);
  CHECK(q.patches[0].probs == p.patches[0].probs);

  auto bad = [&](const std::string& text, const std::string& why) {
    const std::string b = (dir / "bad.csv").string();
    std::ofstream(b) << text;
    CHECK_THROWS_WITH(read_prediction_csv(b), Catch::Contains("bad.csv") && Catch::Contains(why));
  };
  bad("", "empty");
  bad("x,y,pred,confidence,prob_a,prob_b\n", "header");
  bad("x,y,prediction,confidence,prob_a,prob_b\n1,2,a,0.5,0.5\n", "fields");
  bad("x,y,prediction,confidence,prob_a,prob_b\n1,2,z,0.5,0.5,0.5\n", "not one of");
  bad("x,y,prediction,confidence,prob_a,prob_b\n1,2,a,0.5,1.5,0.5\n", "out of");
  bad("x,y,prediction,confidence,prob_a,prob_b\n1,q,a,0.5,0.5,0.5\n", "not a number");
  // Coordinates past int64 were a float-to-integer overflow (fuzz finding, seeds/csv/regress_*).
  bad("x,y,prediction,confidence,prob_a,prob_b\n1e3,3e30,a,0.5,0.5,0.5\n", "whole number in [0, 2^31)");
  bad("x,y,prediction,confidence,prob_a,prob_b\n-5,2,a,0.5,0.5,0.5\n", "whole number");
  bad("x,y,prediction,confidence,prob_a,prob_b\n5,2.5,a,0.5,0.5,0.5\n", "whole number");
  fs::remove_all(dir);
}
