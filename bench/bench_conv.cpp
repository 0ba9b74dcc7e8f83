// Every distinct ResNet-18 and ResNet-50 (r50.*) convolution shape at batch 16 (224 x 224 input), forward,
// backward-data and backward-weights, in GFLOP/s (median call) and as a fraction of this
// machine's measured FMA peak (bench/fma_peak.h) at the same thread count, measured next to
// each benchmark; fwd is the fp32 direct forward as inference runs it (on weights packed before
// the timed loop where inference packs them once, conv_forward_prepacks: the 1x1 GEMMs and the
// spaced 3x3s; else as conv2d_forward takes them); fwd_bf16 is the bf16 inference forward (engine/kernels/conv_bf16.h,
// weights packed before the timed loop, the input's rounding pass timed), only where the CPU has AVX512-BF16, its
// peak_pct still against the fp32 FMA peak (vdpbf16ps does twice an FMA's multiply-adds, so its own peak is 200%).
// fwd_winograd is the Winograd F(4x4, 3x3) forward of the stride-1 3x3 shapes (engine/kernels/conv_winograd.h, filters
// transformed before the timed loop), its GFLOP/s and peak_pct counted in the direct convolution's flops ("equivalent":
// above 100% means faster than the direct convolution could be at the FMA peak); the b1/ variants are the forward
// passes at batch 1. bwd_data_winograd is the backward-data pass by Winograd (the forward kernel on the output gradient
// with the filters rotated and C, OC swapped, conv_winograd.h; filters transformed before the timed loop), counted
// likewise. bwd_weights_winograd is the backward-weights pass by Winograd (conv_winograd_wgrad.cpp), counted likewise.
// fwd_bf16_winograd is the bf16 Winograd F(2x2, 3x3) forward (conv_winograd_bf16.h), counted likewise against the fp32
// peak, next to fwd_bf16 at batch 16 and 1. fwd_int8 likewise the int8 forward (engine/kernels/conv_int8.h, the input's
// quantizing pass timed) where the CPU has AVX512-VNNI, or AVX-VNNI under DEEPSLIDE_ISA=avx2 (vpdpbusd: four times an
// FMA's multiply-adds, its own peak 400%). fwd_int8_chained is the int8 forward as the chained network runs it
// (Int8Chain): the input's codes made before the timed loop, no fp32 output, the next convolution's codes written
// instead (a 1x1 reader's for a 1x1, else a 3x3 stride-1 one's), and at stride 1 a residual added from codes (a block's
// identity). Run: build/bench_conv [--benchmark_filter=layer1] ; DEEPSLIDE_ISA=avx2 and
// --threads via OMP_NUM_THREADS, each benchmark's seconds via BENCH_CONV_MIN_TIME (default 0.5, at most 600).
#include <benchmark/benchmark.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

#include "base/rng.h"
#include "engine/cpu_caches.h"
#include "engine/cpu_features.h"
#include "engine/fma_peak.h"
#include "engine/kernels/conv.h"
#include "engine/kernels/conv_bf16.h"
#include "engine/kernels/conv_blocking.h"
#include "engine/kernels/conv_int8.h"
#include "engine/kernels/conv_winograd.h"
#include "engine/kernels/conv_winograd_bf16.h"
#include "engine/tensor.h"

namespace {

struct Shape {
  const char* name;
  int64_t C, H, OC, k, stride, pad;
};

// ResNet-18's convolutions, each distinct shape once (input side H = W).
const Shape kShapes[] = {
    {"conv1", 3, 224, 64, 7, 2, 3},
    {"layer1.conv", 64, 56, 64, 3, 1, 1},
    {"layer2.0.conv1", 64, 56, 128, 3, 2, 1},
    {"layer2.conv", 128, 28, 128, 3, 1, 1},
    {"layer2.0.downsample", 64, 56, 128, 1, 2, 0},
    {"layer3.0.conv1", 128, 28, 256, 3, 2, 1},
    {"layer3.conv", 256, 14, 256, 3, 1, 1},
    {"layer3.0.downsample", 128, 28, 256, 1, 2, 0},
    {"layer4.0.conv1", 256, 14, 512, 3, 2, 1},
    {"layer4.conv", 512, 7, 512, 3, 1, 1},
    {"layer4.0.downsample", 256, 14, 512, 1, 2, 0},
    // ResNet-50's (torchvision v1.5: the stride on the 3x3), each distinct shape once: mostly
    // 1x1 convolutions, which reduce to 64..512 channels and expand 4x again.
    {"r50.layer1.0.conv1", 64, 56, 64, 1, 1, 0},
    {"r50.layer1.expand", 64, 56, 256, 1, 1, 0},  // conv3 and layer1.0.downsample
    {"r50.layer1.reduce", 256, 56, 64, 1, 1, 0},
    {"r50.layer2.0.conv1", 256, 56, 128, 1, 1, 0},
    {"r50.layer2.0.conv2", 128, 56, 128, 3, 2, 1},
    {"r50.layer2.expand", 128, 28, 512, 1, 1, 0},
    {"r50.layer2.0.downsample", 256, 56, 512, 1, 2, 0},
    {"r50.layer2.reduce", 512, 28, 128, 1, 1, 0},
    {"r50.layer3.0.conv1", 512, 28, 256, 1, 1, 0},
    {"r50.layer3.0.conv2", 256, 28, 256, 3, 2, 1},
    {"r50.layer3.expand", 256, 14, 1024, 1, 1, 0},
    {"r50.layer3.0.downsample", 512, 28, 1024, 1, 2, 0},
    {"r50.layer3.reduce", 1024, 14, 256, 1, 1, 0},
    {"r50.layer4.0.conv1", 1024, 14, 512, 1, 1, 0},
    {"r50.layer4.0.conv2", 512, 14, 512, 3, 2, 1},
    {"r50.layer4.expand", 512, 7, 2048, 1, 1, 0},
    {"r50.layer4.0.downsample", 1024, 14, 2048, 1, 2, 0},
    {"r50.layer4.reduce", 2048, 7, 512, 1, 1, 0},
};
constexpr int64_t kBatch = 16;

// The peak is taken within seconds of each benchmark, before and after its timed loop (the higher
// of the two): on a shared VM the machine's speed drifts from minute to minute, and a peak
// measured once per process put a convolution at 104% of it. A measurement under 3 s old is
// reused (Google Benchmark calls each benchmark several times while sizing its iterations).
double peak_gflops() {
  using Clock = std::chrono::steady_clock;
  static double peak = 0;
  static Clock::time_point when;
  if (peak == 0 || Clock::now() - when > std::chrono::seconds(3)) {
    peak = ds::measured_fma_peak_gflops(omp_get_max_threads());
    when = Clock::now();
  }
  return peak;
}

// Operands are Tensors (64-byte aligned, as the network's): in a std::vector, 16 bytes past a
// page start, every vector load of the weights would straddle two cache lines.
ds::Tensor randn(int64_t n, uint64_t seed) {
  ds::Rng rng(seed);
  ds::Tensor v = ds::Tensor::empty(ds::Shape{n});
  for (int64_t i = 0; i < n; ++i) v[i] = rng.normal();
  return v;
}

enum Pass {
  kForward,
  kBackwardData,
  kBackwardWeights,
  kForwardBf16,
  kForwardWinograd,
  kForwardInt8,
  kBackwardDataWinograd,
  kForwardBf16Winograd,
  kBackwardWeightsWinograd,
  kForwardInt8Chained
};

// The codes of x as the convolution packed `w` reads them (its own spec), made once: the chained
// pass's input.
std::vector<uint8_t> codes_of(const ds::Tensor& x, const ds::ConvInt8Weights& w, const ds::ConvDims& d,
                              ds::Int8CodesSpec* spec) {
  if (!ds::int8_codes_spec(w, d, spec)) throw std::runtime_error("bench_conv: no codes for a per-channel input");
  std::vector<uint8_t> c((size_t)(spec->bytes() + ds::kLowpCopySlack), 0);
  for (int64_t n = 0; n < d.N; ++n)
    for (int64_t h = 0; h < d.H; ++h)
      for (int64_t v = 0; v < d.W; ++v) {
        const int64_t i = spec->layout.pixel(n, h, v);
        if (i < 0) continue;  // a pixel the copy does not hold (a strided 1x1's)
        const float* px = x.data() + ((n * d.H + h) * d.W + v) * d.C;
        uint8_t* q = c.data() + i * d.C;
        for (int64_t i = 0; i < d.C; ++i) q[i] = ds::quantize_u8(px[i], spec->inv);
      }
  return c;
}

void run(benchmark::State& state, Shape s, Pass pass, int64_t batch) {
  const ds::ConvDims d = ds::make_conv_dims(batch, s.C, s.H, s.H, s.OC, s.k, s.k, s.stride, s.pad);
  ds::Tensor x = randn(d.N * d.H * d.W * d.C, 1), w = randn(d.OC * d.C * d.KH * d.KW, 2);
  ds::Tensor dy = randn(d.N * d.OH * d.OW * d.OC, 3);
  ds::Tensor y(dy.shape()), dx(x.shape()), dw(w.shape());
  const ds::ConvBf16Weights wb =
      pass == kForwardBf16 ? ds::pack_conv_bf16(w.data(), nullptr, d.KH, d.KW, d.C, d.OC) : ds::ConvBf16Weights{};
  const ds::ConvWinogradWeights ww =
      pass == kForwardWinograd ? ds::pack_conv_winograd(w.data(), nullptr, d.C, d.OC) : ds::ConvWinogradWeights{};
  const ds::ConvWinogradWeights wbd = pass == kBackwardDataWinograd
                                          ? ds::pack_conv_winograd_backward_data(w.data(), d.C, d.OC)
                                          : ds::ConvWinogradWeights{};
  const ds::ConvWinogradBf16Weights wbw = pass == kForwardBf16Winograd
                                              ? ds::pack_conv_winograd_bf16(w.data(), nullptr, d.C, d.OC)
                                              : ds::ConvWinogradBf16Weights{};
  // The fp32 forward as inference runs it: on weights packed once where it packs them.
  const bool prepacked = pass == kForward && ds::conv_forward_prepacks(d);
  const ds::ConvForwardWeights wf = prepacked ? ds::pack_conv_forward(w.data(), nullptr, d) : ds::ConvForwardWeights{};
  const bool int8 = pass == kForwardInt8 || pass == kForwardInt8Chained;
  const ds::ConvInt8Weights wi =
      int8 ? ds::pack_conv_int8(w.data(), nullptr, d.KH, d.KW, d.C, d.OC, 3.0f) : ds::ConvInt8Weights{};
  ds::Int8Chain chain;
  std::vector<uint8_t> in_codes, out_codes, res_codes;
  if (pass == kForwardInt8Chained) {
    in_codes = codes_of(x, wi, d, &chain.in_spec);
    chain.in = in_codes.data();
    const int64_t rk = d.KH == 1 ? 1 : 3;  // the next convolution, reading the output
    const ds::ConvDims rd = ds::make_conv_dims(d.N, d.OC, d.OH, d.OW, d.OC, rk, rk, 1, rk / 2);
    // (Only the spec matters: the reader's input quantization, per tensor; any 1x1 weights give it.)
    const ds::ConvInt8Weights rw = ds::pack_conv_int8(w.data(), nullptr, 1, 1, d.OC, std::min(d.OC, d.C), 3.0f);
    if (!ds::int8_codes_spec(rw, rd, &chain.out_spec)) throw std::runtime_error("bench_conv: no reader codes");
    out_codes.assign((size_t)(chain.out_spec.bytes() + ds::kLowpCopySlack), 0);
    chain.out = out_codes.data();
    chain.store_float = false;
    if (d.stride_h == 1) {  // the residual: codes of an output-shaped activation (dy's values)
      res_codes = codes_of(dy, rw, ds::make_conv_dims(d.N, d.OC, d.OH, d.OW, d.OC, 1, 1, 1, 0), &chain.res_spec);
      chain.res = res_codes.data();
    }
  }
  std::vector<double> times;
  const double peak_before = peak_gflops();
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    switch (pass) {
      case kForward:
        if (prepacked) ds::conv2d_forward_packed(y.data(), x.data(), wf, d);
        else ds::conv2d_forward(y.data(), x.data(), w.data(), d);
        break;
      case kForwardBf16: ds::conv2d_forward_bf16(y.data(), x.data(), wb, d); break;
      case kForwardWinograd: ds::conv2d_forward_winograd(y.data(), x.data(), ww, d); break;
      case kForwardBf16Winograd: ds::conv2d_forward_winograd_bf16(y.data(), x.data(), wbw, d); break;
      case kForwardInt8: ds::conv2d_forward_int8(y.data(), x.data(), wi, d); break;
      case kForwardInt8Chained: ds::conv2d_forward_int8(nullptr, nullptr, wi, d, {}, chain); break;
      case kBackwardData: ds::conv2d_backward_data(dx.data(), dy.data(), w.data(), d); break;
      case kBackwardDataWinograd: ds::conv2d_backward_data_winograd(dx.data(), dy.data(), wbd, d, true); break;
      case kBackwardWeights: ds::conv2d_backward_weights(dw.data(), nullptr, dy.data(), x.data(), d); break;
      case kBackwardWeightsWinograd:
        ds::conv2d_backward_weights_winograd(dw.data(), nullptr, dy.data(), x.data(), d);
        break;
    }
    benchmark::ClobberMemory();
    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    state.SetIterationTime(dt);
    times.push_back(dt);
  }
  // The median iteration: a call another process interrupted does not move it (the peak is the
  // best of 10 runs, bench/fma_peak.cpp, so neither figure counts such interruptions).
  std::sort(times.begin(), times.end());
  const double median = times.empty() ? 0 : times[times.size() / 2];
  const double flops = 2.0 * d.N * d.OH * d.OW * d.OC * d.C * d.KH * d.KW;
  const double gflops = flops / median * 1e-9;
  state.counters["GFLOPs"] = gflops;
  state.counters["peak_pct"] = 100.0 * gflops / std::max(peak_before, peak_gflops());
}

int register_all() {
  // Seconds per benchmark: 0.5, or BENCH_CONV_MIN_TIME in (0, 600] (longer runs for a profiler to
  // sample; --benchmark_min_time does not override a benchmark's own). Anything else is refused.
  const char* mt = std::getenv("BENCH_CONV_MIN_TIME");
  double min_time = 0.5;
  if (mt) {
    char* end = nullptr;
    min_time = std::strtod(mt, &end);
    if (end == mt || *end || !(min_time > 0 && min_time <= 600)) {
      std::fprintf(stderr, "bench_conv: BENCH_CONV_MIN_TIME must be seconds in (0, 600], got '%.40s'\n", mt);
      std::exit(2);
    }
  }
  const char* pass_names[] = {"fwd",
                              "bwd_data",
                              "bwd_weights",
                              "fwd_bf16",
                              "fwd_winograd",
                              "fwd_int8",
                              "bwd_data_winograd",
                              "fwd_bf16_winograd",
                              "bwd_weights_winograd",
                              "fwd_int8_chained"};
  for (const int64_t batch : {kBatch, int64_t(1)})
    for (const Shape& s : kShapes)
      for (int p = 0; p < 10; ++p) {
        if (p == kBackwardData && std::string(s.name) == "conv1") continue;  // never needed
        if ((p == kForwardBf16 || p == kForwardBf16Winograd) && !ds::has_bf16_kernels()) continue;
        if ((p == kForwardInt8 || p == kForwardInt8Chained) && !ds::has_vnni_kernels()) continue;
        if (p == kForwardInt8Chained && s.C == 3) continue;  // the image is never chained
        const bool wino = s.k == 3 && s.stride == 1;
        if ((p == kForwardWinograd || p == kBackwardDataWinograd || p == kForwardBf16Winograd ||
             p == kBackwardWeightsWinograd) &&
            !wino)
          continue;
        if (batch == 1 &&
            !(wino && (p == kForward || p == kForwardWinograd || p == kForwardBf16 || p == kForwardBf16Winograd)))
          continue;
        const std::string prefix = batch == 1 ? "b1/" : "";
        benchmark::RegisterBenchmark((prefix + s.name + "/" + pass_names[p]).c_str(), run, s, (Pass)p, batch)
            ->Unit(benchmark::kMillisecond)
            ->MinTime(min_time)
            ->UseManualTime();
      }
  return 0;
}
const int registered = register_all();

}  // namespace

// The benchmark's context names the caches and where the convolutions' blocking came from
// (engine/kernels/conv_blocking.h: derived, a tuning file, DEEPSLIDE_CONV_BLOCKING, off).
int main(int argc, char** argv) {
  const ds::CpuCaches& c = ds::cpu_caches();
  benchmark::AddCustomContext("cpu_brand", ds::cpu_identity().brand);
  benchmark::AddCustomContext("caches", "L1d " + std::to_string(c.l1d >> 10) + " KB, L2 " + std::to_string(c.l2 >> 10) +
                                            " KB, L3 " + std::to_string(c.l3 >> 10) + " KB (" + c.source + ")");
  benchmark::AddCustomContext("blocking", ds::conv_blocking_source());
  benchmark::AddCustomContext("isa", ds::isa_name(ds::cpu_isa()));
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
