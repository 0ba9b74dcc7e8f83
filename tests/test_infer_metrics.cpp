// Slide-level metrics (infer/metrics) on hand-computed cases: ROC AUC with heavy ties
// (Mann-Whitney, ties 1/2), undefined AUC, the ROC curve's points, a confusion matrix with a class
// that has no slide (sklearn's macro conventions), and seeded bootstrap intervals.
#include <catch2/catch.hpp>

#include <cmath>

#include "infer/metrics.h"

using namespace ds;

TEST_CASE("ROC AUC with ties", "[infer][metrics]") {
  // positives 0.5, 0.5, 0.8; negatives 0.5, 0.2, 0.5: pairs won 2 + 2 + 3 = 7 of 9.
  std::vector<double> s = {0.5, 0.5, 0.5, 0.8, 0.2, 0.5};
  std::vector<bool> pos = {true, false, true, true, false, false};
  CHECK(roc_auc(s, pos) == Approx(7.0 / 9.0));
  // All tied: 0.5. Perfect: 1. Reversed: 0. One class only: undefined.
  CHECK(roc_auc({1, 1, 1, 1}, {true, false, true, false}) == Approx(0.5));
  CHECK(roc_auc({0.9, 0.1, 0.8}, {true, false, true}) == Approx(1.0));
  CHECK(roc_auc({0.1, 0.9}, {true, false}) == Approx(0.0));
  CHECK(std::isnan(roc_auc({0.1, 0.9}, {true, true})));

  auto curve = roc_curve(s, pos);
  // Thresholds: inf, 0.8, 0.5, 0.2 -> (0,0), (0,1/3), (2/3,1), (1,1)
  REQUIRE(curve.size() == 4);
  CHECK(curve[1].fpr == Approx(0.0));
  CHECK(curve[1].tpr == Approx(1.0 / 3));
  CHECK(curve[2].fpr == Approx(2.0 / 3));
  CHECK(curve[2].tpr == Approx(1.0));
  CHECK(curve[3].fpr == Approx(1.0));
  // Trapezoid area of the curve equals the rank AUC.
  double area = 0;
  for (size_t i = 1; i < curve.size(); ++i)
    area += (curve[i].fpr - curve[i - 1].fpr) * (curve[i].tpr + curve[i - 1].tpr) / 2;
  CHECK(area == Approx(7.0 / 9.0));
}

TEST_CASE("confusion matrix with a class that has no slide", "[infer][metrics]") {
  // classes a, b, c; gt a a b b; predicted a c b a. c has no slide but is predicted once.
  std::vector<int> gt = {0, 0, 1, 1}, pred = {0, 2, 1, 0};
  std::vector<std::vector<double>> scores = {{.8, .1, .1}, {.3, .2, .5}, {.2, .7, .1}, {.6, .3, .1}};
  Metrics m = compute_metrics(gt, pred, scores, 3);
  CHECK(m.confusion == std::vector<std::vector<int64_t>>{{1, 0, 1}, {1, 1, 0}, {0, 0, 0}});
  CHECK(m.accuracy == Approx(0.5));
  CHECK(m.mean_class_accuracy == Approx(0.5));  // (1/2 + 1/2) / 2: c has no ground truth
  CHECK(m.per_class[0].precision == Approx(0.5));
  CHECK(m.per_class[0].recall == Approx(0.5));
  CHECK(m.per_class[1].precision == Approx(1.0));
  CHECK(m.per_class[1].f1 == Approx(2.0 / 3));
  CHECK(m.per_class[2].precision == 0.0);                  // 0 of 1 prediction right
  CHECK(m.per_class[2].recall == 0.0);                     // 0/0 -> 0
  CHECK(m.macro_f1 == Approx((0.5 + 2.0 / 3 + 0.0) / 3));  // sklearn: labels of gt and pred
  // AUC a: positives .8 .3 vs negatives .2 .6 -> (1 + 1 + 1 + 0) / 4; b: pos .7 .3 vs neg .1 .2 -> 1;
  // c: no positive -> undefined, left out of the macro AUC.
  CHECK(m.per_class[0].auc == Approx(0.75));
  CHECK(m.per_class[1].auc == Approx(1.0));
  CHECK(std::isnan(m.per_class[2].auc));
  CHECK(m.macro_auc == Approx(0.875));
  // A class neither in gt nor predicted does not enter the macro F1.
  Metrics m2 = compute_metrics({0, 1}, {0, 1}, {}, 3);
  CHECK(m2.macro_f1 == Approx(1.0));
  CHECK(std::isnan(m2.macro_auc));
}

TEST_CASE("bootstrap intervals are seeded and bracket the estimate", "[infer][metrics]") {
  std::vector<int> gt, pred;
  for (int i = 0; i < 40; ++i) {
    gt.push_back(i % 2);
    pred.push_back(i % 5 == 0 ? 1 - i % 2 : i % 2);  // 8 of 40 wrong
  }
  BootstrapCI a = bootstrap_ci(gt, pred, 2, 500, 42), b = bootstrap_ci(gt, pred, 2, 500, 42),
              c = bootstrap_ci(gt, pred, 2, 500, 43);
  CHECK(a.accuracy.lo == b.accuracy.lo);
  CHECK(a.macro_f1.hi == b.macro_f1.hi);
  CHECK((a.accuracy.lo != c.accuracy.lo || a.accuracy.hi != c.accuracy.hi));
  CHECK(a.accuracy.lo < 0.8);
  CHECK(a.accuracy.hi > 0.8);
  CHECK(a.accuracy.lo > 0.6);  // binomial sd ~0.063: the 95% interval is about +-0.125
  CHECK(a.accuracy.hi < 0.95);
  // Perfect predictions: a degenerate interval at 1.
  BootstrapCI p = bootstrap_ci(gt, gt, 2, 100, 1);
  CHECK(p.accuracy.lo == 1.0);
  CHECK(p.macro_f1.hi == 1.0);
}
