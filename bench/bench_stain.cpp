// Stain normalisation and augmentation per window, one thread (stain/): Macenko, Vahadane and Reinhard
// (each window fitted and redrawn, as the reader threads of train/predict do), HED jitter, and a
// Macenko fit on a tissue thumbnail (the reference fit of `train --stain-ref`). Windows are
// synthetic H&E tissue (slide/synth), 224 px unless the argument says otherwise; windows/s is the
// figure BENCHMARKS.md quotes (target: 2000 windows/s per core at 224 px).
#include <benchmark/benchmark.h>

#include <stdexcept>

#include "base/rng.h"
#include "slide/synth/synth_tissue.h"
#include "stain/hed_jitter.h"
#include "stain/macenko.h"
#include "stain/stain_norm.h"
#include "stain/stain_shift.h"

using namespace ds;

namespace {

// A window of synthetic tissue: the first region, scanning the slide, that is mostly tissue (a
// Macenko fit succeeds on it), so the figures are those of tissue windows, not skipped glass.
RgbImage tissue(int w, int h, uint64_t seed) {
  SynthTissue t(8192, 8192, 0, seed);
  RgbImage img(w, h);
  for (int y = 0; y + h <= 8192; y += 512)
    for (int x = 0; x + w <= 8192; x += 512) {
      t.render(x, y, img);
      int64_t sum = 0;
      for (uint8_t v : img.pixels) sum += v;
      if (sum < 225 * (int64_t)img.pixels.size() && macenko_fit(img).ok) return img;
    }
  throw std::runtime_error("no tissue window found");
}

void norm_case(benchmark::State& state, StainMethod m) {
  const int P = (int)state.range(0);
  const RgbImage src = tissue(P, P, 3);
  RgbImage shifted = tissue(P, P, 4);
  shift_stain(shifted, 1.0);
  const StainReference ref = fit_stain_reference(m, src, "bench");
  RgbImage img;
  for (auto _ : state) {
    img = shifted;
    normalize_stain(img, ref);
    benchmark::DoNotOptimize(img.pixels.data());
  }
  state.counters["windows/s"] = benchmark::Counter((double)state.iterations(), benchmark::Counter::kIsRate);
}

}  // namespace

static void BM_macenko_window(benchmark::State& state) { norm_case(state, StainMethod::macenko); }
static void BM_reinhard_window(benchmark::State& state) { norm_case(state, StainMethod::reinhard); }
static void BM_vahadane_window(benchmark::State& state) { norm_case(state, StainMethod::vahadane); }

static void BM_hed_jitter_window(benchmark::State& state) {
  const int P = (int)state.range(0);
  const RgbImage src = tissue(P, P, 3);
  Rng rng(1);
  RgbImage img;
  for (auto _ : state) {
    img = src;
    apply_hed_jitter(img, draw_hed_jitter(HedJitterOptions{}, rng));
    benchmark::DoNotOptimize(img.pixels.data());
  }
  state.counters["windows/s"] = benchmark::Counter((double)state.iterations(), benchmark::Counter::kIsRate);
}

// The copy alone, to subtract from the figures above.
static void BM_copy_window(benchmark::State& state) {
  const int P = (int)state.range(0);
  const RgbImage src = tissue(P, P, 3);
  RgbImage img;
  for (auto _ : state) {
    img = src;
    benchmark::DoNotOptimize(img.pixels.data());
  }
  state.counters["windows/s"] = benchmark::Counter((double)state.iterations(), benchmark::Counter::kIsRate);
}

static void BM_macenko_fit_thumbnail(benchmark::State& state) {
  const int W = (int)state.range(0), H = (int)state.range(1);
  const RgbImage thumb = tissue(W, H, 5);
  for (auto _ : state) {
    const MacenkoFit f = macenko_fit(thumb);
    benchmark::DoNotOptimize(f.max_conc[0]);
  }
}

BENCHMARK(BM_macenko_window)->Arg(224)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_reinhard_window)->Arg(224)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_vahadane_window)->Arg(224)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_hed_jitter_window)->Arg(224)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_copy_window)->Arg(224)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_macenko_fit_thumbnail)
    ->Args({1024, 1024})
    ->Args({2048, 1536})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

BENCHMARK_MAIN();
