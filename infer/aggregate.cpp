// Slide-level aggregation rules; see aggregate.h for the exact semantics and tie-breaking.
#include "infer/aggregate.h"

#include "base/error.h"

namespace ds {

SlideSummary summarize(const std::string& name, const SlidePredictions& p) {
  const size_t K = p.classes.size();
  SlideSummary s;
  s.name = name;
  s.votes.assign(K, 0);
  s.mean_prob.assign(K, 0.0);
  for (const auto& r : p.patches) {
    s.pred.push_back(r.prediction);
    s.conf.push_back(r.confidence);
    s.votes[(size_t)r.prediction]++;
    for (size_t k = 0; k < K; ++k) s.mean_prob[k] += r.probs[k];
  }
  if (!p.patches.empty())
    for (double& v : s.mean_prob) v /= (double)p.patches.size();
  return s;
}

int first_argmax(const std::vector<double>& v) {
  size_t best = 0;
  for (size_t i = 1; i < v.size(); ++i)
    if (v[i] > v[best]) best = i;
  return (int)best;
}

SlideDecision threshold_rule(const SlideSummary& s, const std::vector<double>& thresholds) {
  const size_t K = s.votes.size();
  DS_CHECK(thresholds.size() == K, "threshold_rule: one threshold per class");
  SlideDecision d;
  d.count.assign(K, 0);
  for (size_t i = 0; i < s.pred.size(); ++i)
    if ((double)s.conf[i] > thresholds[(size_t)s.pred[i]]) d.count[(size_t)s.pred[i]]++;
  int64_t total = 0;
  for (int64_t c : d.count) total += c;
  d.score.assign(K, 0.0);
  if (total > 0)
    for (size_t k = 0; k < K; ++k) d.score[k] = (double)d.count[k] / (double)total;
  d.predicted = first_argmax(d.score);
  return d;
}

SlideDecision majority_vote(const SlideSummary& s) {
  SlideDecision d;
  d.count = s.votes;
  d.score.assign(s.votes.size(), 0.0);
  if (s.patches() > 0)
    for (size_t k = 0; k < s.votes.size(); ++k) d.score[k] = (double)s.votes[k] / (double)s.patches();
  d.predicted = first_argmax(d.score);
  return d;
}

SlideDecision mean_probability(const SlideSummary& s) {
  SlideDecision d;
  d.count = s.votes;
  d.score = s.mean_prob;
  d.predicted = first_argmax(d.score);
  return d;
}

std::vector<double> slide_features(const SlideSummary& s) {
  std::vector<double> f = majority_vote(s).score;
  f.insert(f.end(), s.mean_prob.begin(), s.mean_prob.end());
  return f;
}

double mean_class_accuracy(const std::vector<int>& gt, const std::vector<int>& pred, int num_classes) {
  DS_CHECK(gt.size() == pred.size(), "mean_class_accuracy: sizes differ");
  std::vector<int64_t> n((size_t)num_classes, 0), ok((size_t)num_classes, 0);
  for (size_t i = 0; i < gt.size(); ++i) {
    n[(size_t)gt[i]]++;
    if (gt[i] == pred[i]) ok[(size_t)gt[i]]++;
  }
  double sum = 0;
  int present = 0;
  for (int k = 0; k < num_classes; ++k)
    if (n[(size_t)k] > 0) {
      sum += (double)ok[(size_t)k] / (double)n[(size_t)k];
      ++present;
    }
  return present ? sum / present : 0.0;
}

}  // namespace ds
