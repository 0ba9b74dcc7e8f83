// Stain normalisation and augmentation per window, one thread (stain/): Macenko, Vahadane and Reinhard
// (each window fitted and redrawn, as the reader threads of train/predict do with --stain-fit
// window; `_slide_window`: only the transform from a slide's statistics fitted beforehand, as with
// --stain-fit slide), HED jitter, a Macenko fit on a tissue thumbnail (the reference fit of `train
// --stain-ref`), and `--stain-fit slide`'s whole per-slide fit (Otsu mask of a 1024 px thumbnail,
// then the method on its tissue pixels: slide/windows/slide_stain.h). Windows are
// synthetic H&E tissue (slide/synth), 224 px unless the argument says otherwise; windows/s is the
// figure BENCHMARKS.md quotes (target: 2000 windows/s per core at 224 px).
#include <benchmark/benchmark.h>

#include <stdexcept>

#include "base/rng.h"
#include "slide/synth/synth_tissue.h"
#include "slide/windows/slide_stain.h"
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

// slide: the window's statistics fitted beforehand (on the shifted tissue around it, as a slide's
// thumbnail would be), so each iteration runs the transform alone.
void norm_case(benchmark::State& state, StainMethod m, StainScope fit = StainScope::window) {
  const int P = (int)state.range(0);
  const RgbImage src = tissue(P, P, 3);
  RgbImage shifted = tissue(P, P, 4);
  shift_stain(shifted, 1.0);
  StainReference ref = fit_stain_reference(m, src, "bench");
  ref.fit = fit;
  RgbImage around = tissue(4 * P, 4 * P, 4);
  shift_stain(around, 1.0);
  const SlideStain slide = fit_thumbnail_stain(around, ref);  // method none with StainScope::window
  if (fit == StainScope::slide && slide.method != m) throw std::runtime_error("the slide fit failed");
  RgbImage img;
  for (auto _ : state) {
    img = shifted;
    normalize_stain(img, ref, slide);
    benchmark::DoNotOptimize(img.pixels.data());
  }
  state.counters["windows/s"] = benchmark::Counter((double)state.iterations(), benchmark::Counter::kIsRate);
}

// --stain-fit slide's fit of one slide on a W x H thumbnail: the tissue mask, then the method.
void slide_fit_case(benchmark::State& state, StainMethod m) {
  RgbImage thumb(1024, 768, 240);  // glass, with a tissue region in its middle two thirds
  const RgbImage t = tissue(680, 512, 5);
  for (int y = 0; y < t.height; ++y) std::copy(t.row(y), t.row(y) + t.width * 3, thumb.row(y + 128) + 170 * 3);
  StainReference ref = fit_stain_reference(m, tissue(224, 224, 3), "bench");
  ref.fit = StainScope::slide;
  for (auto _ : state) {
    const SlideStain s = fit_thumbnail_stain(thumb, ref);
    if (s.method != m) throw std::runtime_error("the slide fit failed");
    benchmark::DoNotOptimize(s.lab_mean[0]);
  }
}

}  // namespace

static void BM_macenko_window(benchmark::State& state) { norm_case(state, StainMethod::macenko); }
static void BM_reinhard_window(benchmark::State& state) { norm_case(state, StainMethod::reinhard); }
static void BM_vahadane_window(benchmark::State& state) { norm_case(state, StainMethod::vahadane); }
static void BM_macenko_slide_window(benchmark::State& state) {
  norm_case(state, StainMethod::macenko, StainScope::slide);
}
static void BM_reinhard_slide_window(benchmark::State& state) {
  norm_case(state, StainMethod::reinhard, StainScope::slide);
}
static void BM_vahadane_slide_window(benchmark::State& state) {
  norm_case(state, StainMethod::vahadane, StainScope::slide);
}
static void BM_macenko_slide_fit(benchmark::State& state) { slide_fit_case(state, StainMethod::macenko); }
static void BM_reinhard_slide_fit(benchmark::State& state) { slide_fit_case(state, StainMethod::reinhard); }
static void BM_vahadane_slide_fit(benchmark::State& state) { slide_fit_case(state, StainMethod::vahadane); }

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
BENCHMARK(BM_macenko_slide_window)->Arg(224)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_reinhard_slide_window)->Arg(224)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_vahadane_slide_window)->Arg(224)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_macenko_slide_fit)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_reinhard_slide_fit)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_vahadane_slide_fit)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_hed_jitter_window)->Arg(224)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_copy_window)->Arg(224)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_macenko_fit_thumbnail)
    ->Args({1024, 1024})
    ->Args({2048, 1536})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

BENCHMARK_MAIN();
