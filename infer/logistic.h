// Multinomial logistic regression for slide-level aggregation: softmax(W x + b) over per-slide
// features, L2 penalty lambda/2 * |W|^2 (intercepts barely penalised: 1e-6, only to make the
// over-parameterised softmax well posed), fit by Newton's method with Eigen. It is offered by
// `search` only when every class has at least kLogisticMinSlidesPerClass validation slides:
// with fewer, a model with 2K+1 parameters per class just memorises the validation set.
#pragma once
#include <vector>

namespace ds {

constexpr int kLogisticMinSlidesPerClass = 10;

struct LogisticModel {
  int num_classes = 0, num_features = 0;
  std::vector<double> weights;  // [K][D] row-major
  std::vector<double> bias;     // [K]
  double lambda = 1.0;
  int iterations = 0;
  std::vector<double> predict_proba(const std::vector<double>& x) const;
};

// x: one feature vector per sample (all of the same length), y: class index in [0, K).
LogisticModel fit_logistic(const std::vector<std::vector<double>>& x, const std::vector<int>& y, int num_classes,
                           double lambda = 1.0, int max_iter = 100);

// Whether there are enough slides for the logistic regression (see kLogisticMinSlidesPerClass).
bool logistic_allowed(const std::vector<int>& y, int num_classes);

}  // namespace ds
