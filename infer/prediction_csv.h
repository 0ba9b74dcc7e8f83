// Per-slide patch prediction CSVs (stage 4 output): `x,y,prediction,confidence,prob_<class>...`,
// x the column and y the row of the window's top-left corner in level-0 pixels, prediction the
// class name, confidence its probability (the largest). DeepSlide's four columns come first.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace ds {

struct PatchPrediction {
  int64_t x = 0, y = 0;
  int prediction = 0;        // class index
  float confidence = 0.f;    // probs[prediction]
  std::vector<float> probs;  // one per class
};

struct SlidePredictions {
  std::vector<std::string> classes;
  std::vector<PatchPrediction> patches;
};

// Index of the largest probability; the first one on ties (as argmax / Python's max).
int argmax_class(const float* probs, size_t k);

std::string prediction_csv_text(const SlidePredictions& p);
// The same text in pieces, for a CSV written a chunk at a time (infer/partial_predictions.h):
// the header line, then the rows of `patches` appended to `text`.
std::string prediction_csv_header(const std::vector<std::string>& classes);
void append_prediction_rows(std::string& text, const std::vector<std::string>& classes,
                            const std::vector<PatchPrediction>& patches);
void write_prediction_csv(const std::string& path, const SlidePredictions& p);  // atomic
// Reads and checks a prediction CSV (header, column count, numbers, class names, probabilities
// in [0, 1]). Lines are bounded (64 KB, base/bounded_lines.h) and so are rows (2^24); a UTF-8
// byte order mark before the header is skipped. InputError naming the file and line.
SlidePredictions read_prediction_csv(const std::string& path);

}  // namespace ds
