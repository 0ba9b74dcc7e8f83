// bf16 against fp32 inference in one process, step by step: the eval forward + softmax that
// `deepslide bench --mode infer --precision fp32|bf16` times (predict_probabilities on a seeded
// ResNet-18 and random batch), the two precisions alternating every step so both see the same
// machine load (on a loaded machine separate processes, even alternating, drift apart by more
// than the difference measured). Prints each pair, then one JSON line: the median ms per batch of
// each, the ratio of the medians and the median of the per-pair ratios (fp32 / bf16).
//   build/bench_precision [batch 16] [size 224] [threads 2] [pairs 10] [warmup 1]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "base/rng.h"
#include "base/threads.h"
#include "engine/cpu_features.h"
#include "weights/model.h"
#include "weights/model_forward.h"

using namespace ds;

static double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

int main(int argc, char** argv) {
  auto arg = [&](int i, int def) { return argc > i ? std::atoi(argv[i]) : def; };
  const int batch = arg(1, 16), size = arg(2, 224), threads = arg(3, 2), pairs = arg(4, 10), warmup = arg(5, 1);
  if (!has_bf16_kernels()) {
    std::fprintf(stderr, "bench_precision: not run: CPU lacks AVX512-BF16 (or DEEPSLIDE_ISA caps the path)\n");
    return 1;
  }
  set_num_threads(threads);
  Model model = make_model(Arch::resnet18, {"a", "b"}, 0, size);
  Rng rng(1);
  Tensor x = Tensor::empty(Shape{batch, 3, size, size});
  for (int64_t i = 0; i < x.numel(); ++i) x[i] = rng.normal();
  using Clock = std::chrono::steady_clock;
  auto step = [&](Precision p) {
    const auto t0 = Clock::now();
    volatile float sink = predict_probabilities(model, x, p)[0];
    (void)sink;
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  };
  for (int i = 0; i < warmup; ++i) step(Precision::fp32), step(Precision::bf16);
  std::vector<double> f, b, r;
  for (int i = 0; i < pairs; ++i) {
    // Alternate which goes first, so neither always follows the other.
    double t32, t16;
    if (i % 2) {
      t16 = step(Precision::bf16);
      t32 = step(Precision::fp32);
    } else {
      t32 = step(Precision::fp32);
      t16 = step(Precision::bf16);
    }
    f.push_back(t32);
    b.push_back(t16);
    r.push_back(t32 / t16);
    std::fprintf(stderr, "pair %d/%d: fp32 %.1f ms, bf16 %.1f ms, ratio %.2f\n", i + 1, pairs, t32, t16, t32 / t16);
  }
  std::printf(
      "{\"arch\":\"resnet18\",\"batch\":%d,\"size\":%d,\"threads\":%d,\"pairs\":%d,"
      "\"fp32_ms_median\":%.1f,\"bf16_ms_median\":%.1f,\"ratio_of_medians\":%.3f,"
      "\"median_pair_ratio\":%.3f,\"fp32_img_per_sec\":%.2f,\"bf16_img_per_sec\":%.2f}\n",
      batch, size, num_threads(), pairs, median(f), median(b), median(f) / median(b), median(r),
      1000.0 * batch / median(f), 1000.0 * batch / median(b));
  return 0;
}
