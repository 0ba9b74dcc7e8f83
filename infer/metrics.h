// Stage 7 slide-level metrics: confusion matrix, per-class precision / recall (= DeepSlide's
// per-class accuracy) / F1, accuracy, mean class accuracy, macro F1, one-vs-rest ROC AUC from
// slide scores, and seeded bootstrap 95% intervals.
// Conventions (sklearn's defaults): a 0/0 precision, recall or F1 is 0; macro F1 averages over the
// classes present in the ground truth or the predictions; mean class accuracy over the classes
// present in the ground truth; a class's AUC is undefined (NaN, left out of the macro AUC) when
// it has no positive or no negative slide; ties in scores count one half (Mann-Whitney).
#pragma once
#include <cstdint>
#include <vector>

namespace ds {

struct ClassMetrics {
  int64_t support = 0;  // slides of this class in the ground truth
  int64_t predicted = 0;
  double precision = 0, recall = 0, f1 = 0;
  double auc = 0;  // NaN when undefined
};

struct Metrics {
  std::vector<std::vector<int64_t>> confusion;  // [gt][predicted]
  std::vector<ClassMetrics> per_class;
  double accuracy = 0, mean_class_accuracy = 0, macro_precision = 0, macro_recall = 0, macro_f1 = 0;
  double macro_auc = 0;  // NaN when no class has a defined AUC
};

// gt, pred: class indices; scores: per slide, per class (may be empty: no AUC, NaN).
Metrics compute_metrics(const std::vector<int>& gt, const std::vector<int>& pred,
                        const std::vector<std::vector<double>>& scores, int num_classes);

// One-vs-rest AUC of `score` for positives `is_pos` (Mann-Whitney U / (n_pos n_neg), ties 1/2).
double roc_auc(const std::vector<double>& score, const std::vector<bool>& is_pos);

struct RocPoint {
  double fpr, tpr, threshold;
};
// The ROC curve (sklearn's roc_curve without dropping collinear points): starts at (0, 0),
// one point per distinct score, descending.
std::vector<RocPoint> roc_curve(const std::vector<double>& score, const std::vector<bool>& is_pos);

struct Interval {
  double lo = 0, hi = 0;
};
struct BootstrapCI {
  Interval accuracy, macro_f1, mean_class_accuracy;
  int resamples = 0;
  uint64_t seed = 0;
};
// Percentile intervals (2.5%, 97.5%) over `resamples` resamplings of the slides with replacement.
BootstrapCI bootstrap_ci(const std::vector<int>& gt, const std::vector<int>& pred, int num_classes, int resamples,
                         uint64_t seed);

}  // namespace ds
