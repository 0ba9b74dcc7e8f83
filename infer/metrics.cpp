// Slide-level metrics; conventions in metrics.h.
#include "infer/metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "base/error.h"
#include "base/rng.h"

namespace ds {

double roc_auc(const std::vector<double>& score, const std::vector<bool>& is_pos) {
  DS_CHECK(score.size() == is_pos.size(), "roc_auc: sizes differ");
  const size_t n = score.size();
  std::vector<size_t> idx(n);
  std::iota(idx.begin(), idx.end(), 0);
  std::sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return score[a] < score[b]; });
  // Mid-ranks over tied groups; U = sum of positive ranks - n_pos (n_pos + 1) / 2.
  double rank_sum = 0;
  int64_t n_pos = 0;
  for (size_t i = 0; i < n;) {
    size_t j = i;
    while (j < n && score[idx[j]] == score[idx[i]]) ++j;
    const double mid = (double)(i + 1 + j) / 2.0;
    for (size_t t = i; t < j; ++t)
      if (is_pos[idx[t]]) {
        rank_sum += mid;
        ++n_pos;
      }
    i = j;
  }
  const int64_t n_neg = (int64_t)n - n_pos;
  if (n_pos == 0 || n_neg == 0) return std::numeric_limits<double>::quiet_NaN();
  return (rank_sum - (double)n_pos * (double)(n_pos + 1) / 2.0) / ((double)n_pos * (double)n_neg);
}

std::vector<RocPoint> roc_curve(const std::vector<double>& score, const std::vector<bool>& is_pos) {
  const size_t n = score.size();
  std::vector<size_t> idx(n);
  std::iota(idx.begin(), idx.end(), 0);
  std::sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return score[a] > score[b]; });
  int64_t P = 0;
  for (bool b : is_pos) P += b;
  const int64_t N = (int64_t)n - P;
  std::vector<RocPoint> pts{{0.0, 0.0, std::numeric_limits<double>::infinity()}};
  int64_t tp = 0, fp = 0;
  for (size_t i = 0; i < n;) {
    size_t j = i;
    while (j < n && score[idx[j]] == score[idx[i]]) {
      (is_pos[idx[j]] ? tp : fp)++;
      ++j;
    }
    pts.push_back({N ? (double)fp / N : 0.0, P ? (double)tp / P : 0.0, score[idx[i]]});
    i = j;
  }
  return pts;
}

static double safe_div(double a, double b) { return b == 0 ? 0.0 : a / b; }

Metrics compute_metrics(const std::vector<int>& gt, const std::vector<int>& pred,
                        const std::vector<std::vector<double>>& scores, int num_classes) {
  DS_CHECK(gt.size() == pred.size(), "compute_metrics: sizes differ");
  const size_t K = (size_t)num_classes;
  Metrics m;
  m.confusion.assign(K, std::vector<int64_t>(K, 0));
  for (size_t i = 0; i < gt.size(); ++i) m.confusion[(size_t)gt[i]][(size_t)pred[i]]++;
  m.per_class.resize(K);
  int64_t correct = 0;
  int present_gt = 0, present_any = 0, with_auc = 0;
  double sum_recall_gt = 0, sum_p = 0, sum_r = 0, sum_f1 = 0, sum_auc = 0;
  for (size_t k = 0; k < K; ++k) {
    ClassMetrics& c = m.per_class[k];
    for (size_t j = 0; j < K; ++j) {
      c.support += m.confusion[k][j];
      c.predicted += m.confusion[j][k];
    }
    const double tp = (double)m.confusion[k][k];
    correct += m.confusion[k][k];
    c.precision = safe_div(tp, (double)c.predicted);
    c.recall = safe_div(tp, (double)c.support);
    c.f1 = safe_div(2 * c.precision * c.recall, c.precision + c.recall);
    if (c.support > 0) {
      ++present_gt;
      sum_recall_gt += c.recall;
    }
    if (c.support > 0 || c.predicted > 0) {
      ++present_any;
      sum_p += c.precision;
      sum_r += c.recall;
      sum_f1 += c.f1;
    }
    c.auc = std::numeric_limits<double>::quiet_NaN();
    if (!scores.empty()) {
      std::vector<double> s;
      std::vector<bool> pos;
      for (size_t i = 0; i < gt.size(); ++i) {
        s.push_back(scores[i][k]);
        pos.push_back(gt[i] == (int)k);
      }
      c.auc = roc_auc(s, pos);
      if (!std::isnan(c.auc)) {
        sum_auc += c.auc;
        ++with_auc;
      }
    }
  }
  m.accuracy = safe_div((double)correct, (double)gt.size());
  m.mean_class_accuracy = safe_div(sum_recall_gt, present_gt);
  m.macro_precision = safe_div(sum_p, present_any);
  m.macro_recall = safe_div(sum_r, present_any);
  m.macro_f1 = safe_div(sum_f1, present_any);
  m.macro_auc = with_auc ? sum_auc / with_auc : std::numeric_limits<double>::quiet_NaN();
  return m;
}

static Interval percentile_interval(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  // Linear interpolation between order statistics (numpy.percentile's default).
  auto q = [&](double p) {
    const double pos = p * (double)(v.size() - 1);
    const size_t lo = (size_t)std::floor(pos);
    const size_t hi = std::min(lo + 1, v.size() - 1);
    return v[lo] + (pos - (double)lo) * (v[hi] - v[lo]);
  };
  return {q(0.025), q(0.975)};
}

BootstrapCI bootstrap_ci(const std::vector<int>& gt, const std::vector<int>& pred, int num_classes, int resamples,
                         uint64_t seed) {
  DS_CHECK(resamples >= 1 && !gt.empty(), "bootstrap_ci: need slides and resamples");
  Rng rng(seed);
  std::vector<double> acc, f1, mca;
  std::vector<int> g(gt.size()), p(gt.size());
  for (int r = 0; r < resamples; ++r) {
    for (size_t i = 0; i < gt.size(); ++i) {
      const size_t j = (size_t)rng.uniform_int(gt.size());
      g[i] = gt[j];
      p[i] = pred[j];
    }
    Metrics m = compute_metrics(g, p, {}, num_classes);
    acc.push_back(m.accuracy);
    f1.push_back(m.macro_f1);
    mca.push_back(m.mean_class_accuracy);
  }
  BootstrapCI ci;
  ci.accuracy = percentile_interval(acc);
  ci.macro_f1 = percentile_interval(f1);
  ci.mean_class_accuracy = percentile_interval(mca);
  ci.resamples = resamples;
  ci.seed = seed;
  return ci;
}

}  // namespace ds
