// Reduced-precision against fp32 inference in one process, step by step: the eval forward +
// softmax that `deepslide bench --mode infer --precision fp32|bf16|int8` times
// (predict_probabilities on a seeded ResNet-18 and random batch; int8 calibrated on that batch),
// the precisions taking turns every round, in a rotating order, so all see the same machine load
// (on a loaded machine separate processes, even alternating, drift apart by more than the
// difference measured). bf16 runs where the CPU has AVX512-BF16, int8 where it has AVX512-VNNI or AVX-VNNI.
// Prints each round, then one JSON line: the median ms per batch of each precision, and for each
// reduced one the ratio of the medians and the median of the per-round ratios (fp32 / it).
//   build/bench_precision [batch 16] [size 224] [threads 2] [rounds 10] [warmup 1]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "base/median.h"
#include "base/rng.h"
#include "base/threads.h"
#include "engine/cpu_features.h"
#include "weights/calibrate.h"
#include "weights/model.h"
#include "weights/model_forward.h"

using namespace ds;

int main(int argc, char** argv) {
  auto arg = [&](int i, int def) { return argc > i ? std::atoi(argv[i]) : def; };
  const int batch = arg(1, 16), size = arg(2, 224), threads = arg(3, 2), rounds = arg(4, 10), warmup = arg(5, 1);
  std::vector<Precision> ps = {Precision::fp32};
  if (has_bf16_kernels()) ps.push_back(Precision::bf16);
  else std::fprintf(stderr, "bench_precision: bf16 not run: CPU lacks AVX512-BF16 (or DEEPSLIDE_ISA caps the path)\n");
  if (has_vnni_kernels()) ps.push_back(Precision::int8);
  else
    std::fprintf(
        stderr, "bench_precision: int8 not run: CPU lacks AVX512-VNNI and AVX-VNNI (or DEEPSLIDE_ISA caps the path)\n");
  if (ps.size() == 1) return 1;
  set_num_threads(threads);
  Model model = make_model(Arch::resnet18, {"a", "b"}, 0, size);
  Rng rng(1);
  Tensor x = Tensor::empty(Shape{batch, 3, size, size});
  for (int64_t i = 0; i < x.numel(); ++i) x[i] = rng.normal();
  begin_calibration(model);
  calibrate_batch(model, x);
  finish_calibration(model);
  using Clock = std::chrono::steady_clock;
  auto step = [&](Precision p) {
    const auto t0 = Clock::now();
    volatile float sink = predict_probabilities(model, x, p)[0];
    (void)sink;
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  };
  for (int i = 0; i < warmup; ++i)
    for (Precision p : ps) step(p);
  const size_t n = ps.size();
  std::vector<std::vector<double>> ms(n), ratio(n);
  for (int r = 0; r < rounds; ++r) {
    std::vector<double> t(n);
    for (size_t j = 0; j < n; ++j) {  // rotate who goes first, so none always follows another
      const size_t k = (j + (size_t)r) % n;
      t[k] = step(ps[k]);
    }
    std::fprintf(stderr, "round %d/%d:", r + 1, rounds);
    for (size_t k = 0; k < n; ++k) {
      ms[k].push_back(t[k]);
      ratio[k].push_back(t[0] / t[k]);
      std::fprintf(stderr, " %s %.1f ms", precision_name(ps[k]), t[k]);
    }
    std::fprintf(stderr, "\n");
  }
  std::string j = "{\"arch\":\"resnet18\",\"batch\":" + std::to_string(batch) + ",\"size\":" + std::to_string(size) +
                  ",\"threads\":" + std::to_string(num_threads()) + ",\"rounds\":" + std::to_string(rounds);
  char buf[256];
  for (size_t k = 0; k < n; ++k) {
    const char* name = precision_name(ps[k]);
    std::snprintf(buf, sizeof buf, ",\"%s_ms_median\":%.1f,\"%s_img_per_sec\":%.2f", name, median(ms[k]), name,
                  1000.0 * batch / median(ms[k]));
    j += buf;
    if (k == 0) continue;
    std::snprintf(buf, sizeof buf, ",\"fp32_over_%s_ratio_of_medians\":%.3f,\"fp32_over_%s_median_round_ratio\":%.3f",
                  name, median(ms[0]) / median(ms[k]), name, median(ratio[k]));
    j += buf;
  }
  std::printf("%s}\n", j.c_str());
  return 0;
}
