// Stage 5/7 slide-level aggregation: turning a slide's patch predictions into one class.
//  - threshold rule (DeepSlide's): count patches whose confidence is strictly greater than the
//    threshold of their predicted class; percent_c = count_c / sum of counts (all 0 when no patch
//    passes); the slide takes the class with the largest percent, the first class in class order
//    on ties (Python's max over DeepSlide's dict), so a slide with no passing patch gets class 0.
//    One threshold shared by all classes is DeepSlide's stage 5; per-class thresholds are ours.
//  - majority vote: the most frequent patch prediction (first class on ties).
//  - mean probability: the largest mean of prob_<class> over patches (first class on ties).
//  - logistic regression on per-slide features (see logistic.h).
// Every method also yields per-class slide scores (percents, vote fractions, mean probabilities,
// fitted probabilities) used for ROC curves.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "infer/prediction_csv.h"

namespace ds {

// What the aggregators need of one slide.
struct SlideSummary {
  std::string name;               // slide stem (the prediction CSV's name)
  std::vector<int> pred;          // per patch: predicted class
  std::vector<float> conf;        // per patch: confidence
  std::vector<int64_t> votes;     // per class: patches predicted as that class
  std::vector<double> mean_prob;  // per class: mean probability (0 without patches)
  int64_t patches() const { return (int64_t)pred.size(); }
};
SlideSummary summarize(const std::string& name, const SlidePredictions& p);

struct SlideDecision {
  int predicted = 0;
  std::vector<double> score;   // per class, in [0, 1]
  std::vector<int64_t> count;  // per class (threshold rule: patches above; others: votes)
};

// First index of the largest value (Python's max / numpy argmax tie rule).
int first_argmax(const std::vector<double>& v);

SlideDecision threshold_rule(const SlideSummary& s, const std::vector<double>& thresholds);
SlideDecision majority_vote(const SlideSummary& s);
SlideDecision mean_probability(const SlideSummary& s);

// Per-slide features for the logistic regression: vote fractions then mean probabilities (2K).
std::vector<double> slide_features(const SlideSummary& s);

// Mean over classes (that have at least one slide in gt) of the share of that class's slides
// predicted correctly. DeepSlide's selection criterion.
double mean_class_accuracy(const std::vector<int>& gt, const std::vector<int>& pred, int num_classes);

}  // namespace ds
