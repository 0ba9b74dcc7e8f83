// Newton's method for L2-penalised multinomial logistic regression (see logistic.h).
#include "infer/logistic.h"

#include <algorithm>
#include <cmath>

#include <Eigen/Dense>

#include "base/error.h"

namespace ds {

std::vector<double> LogisticModel::predict_proba(const std::vector<double>& x) const {
  DS_CHECK((int)x.size() == num_features, "logistic: feature count differs from the fit");
  std::vector<double> z((size_t)num_classes);
  for (int k = 0; k < num_classes; ++k) {
    double s = bias[(size_t)k];
    for (int d = 0; d < num_features; ++d) s += weights[(size_t)(k * num_features + d)] * x[(size_t)d];
    z[(size_t)k] = s;
  }
  const double m = *std::max_element(z.begin(), z.end());
  double sum = 0;
  for (double& v : z) sum += (v = std::exp(v - m));
  for (double& v : z) v /= sum;
  return z;
}

bool logistic_allowed(const std::vector<int>& y, int num_classes) {
  std::vector<int> n((size_t)num_classes, 0);
  for (int c : y) n[(size_t)c]++;
  return std::all_of(n.begin(), n.end(), [](int v) { return v >= kLogisticMinSlidesPerClass; });
}

LogisticModel fit_logistic(const std::vector<std::vector<double>>& x, const std::vector<int>& y, int num_classes,
                           double lambda, int max_iter) {
  DS_CHECK(!x.empty() && x.size() == y.size(), "fit_logistic: need samples and one label each");
  const int N = (int)x.size(), D = (int)x[0].size(), K = num_classes, P = D + 1;
  // Parameters theta[k * P + d], d == D is the intercept.
  Eigen::VectorXd theta = Eigen::VectorXd::Zero(K * P);
  Eigen::MatrixXd X(N, P);
  for (int i = 0; i < N; ++i) {
    DS_CHECK((int)x[(size_t)i].size() == D, "fit_logistic: ragged features");
    for (int d = 0; d < D; ++d) X(i, d) = x[(size_t)i][(size_t)d];
    X(i, D) = 1.0;
  }
  Eigen::VectorXd penalty(K * P);
  for (int k = 0; k < K; ++k)
    for (int d = 0; d < P; ++d) penalty(k * P + d) = d == D ? 1e-6 : lambda;
  auto probs = [&](const Eigen::VectorXd& th) {
    Eigen::MatrixXd Wt(P, K);
    for (int k = 0; k < K; ++k) Wt.col(k) = th.segment(k * P, P);
    Eigen::MatrixXd Z = X * Wt;
    for (int i = 0; i < N; ++i) {
      const double m = Z.row(i).maxCoeff();
      Z.row(i) = (Z.row(i).array() - m).exp();
      Z.row(i) /= Z.row(i).sum();
    }
    return Z;
  };
  auto objective = [&](const Eigen::VectorXd& th) {
    Eigen::MatrixXd Pm = probs(th);
    double f = 0;
    for (int i = 0; i < N; ++i) f -= std::log(std::max(Pm(i, y[(size_t)i]), 1e-300));
    return f + 0.5 * (penalty.array() * th.array().square()).sum();
  };
  int it = 0;
  for (; it < max_iter; ++it) {
    Eigen::MatrixXd Pm = probs(theta);
    Eigen::VectorXd grad = penalty.cwiseProduct(theta);
    Eigen::MatrixXd H = penalty.asDiagonal();
    for (int i = 0; i < N; ++i) {
      for (int k = 0; k < K; ++k) {
        const double r = Pm(i, k) - (y[(size_t)i] == k ? 1.0 : 0.0);
        grad.segment(k * P, P) += r * X.row(i).transpose();
        for (int l = 0; l < K; ++l) {
          const double w = Pm(i, k) * ((k == l ? 1.0 : 0.0) - Pm(i, l));
          H.block(k * P, l * P, P, P) += w * X.row(i).transpose() * X.row(i);
        }
      }
    }
    if (grad.lpNorm<Eigen::Infinity>() < 1e-10) break;
    Eigen::VectorXd step = H.ldlt().solve(grad);
    // Backtracking keeps every step a descent step.
    const double f0 = objective(theta);
    double t = 1.0;
    while (t > 1e-8 && objective(theta - t * step) > f0 - 1e-4 * t * grad.dot(step)) t *= 0.5;
    theta -= t * step;
    if (t * step.lpNorm<Eigen::Infinity>() < 1e-12) break;
  }
  LogisticModel m;
  m.num_classes = K;
  m.num_features = D;
  m.lambda = lambda;
  m.iterations = it;
  m.weights.resize((size_t)(K * D));
  m.bias.resize((size_t)K);
  for (int k = 0; k < K; ++k) {
    for (int d = 0; d < D; ++d) m.weights[(size_t)(k * D + d)] = theta(k * P + d);
    m.bias[(size_t)k] = theta(k * P + D);
  }
  return m;
}

}  // namespace ds
