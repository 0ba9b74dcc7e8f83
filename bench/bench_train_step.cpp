// The training step alone (train/train_step: forward, softmax cross-entropy, backward, Adam, zero
// grads) on a fixed in-memory batch, as Google Benchmark: the compute ceiling of `deepslide train`
// (bench/train_throughput.py compares the trainer with `deepslide bench --mode train`, which times
// the same step).
// Args: patch size, batch size.
#include <benchmark/benchmark.h>

#include "base/rng.h"
#include "base/threads.h"
#include "layers/layers.h"
#include "layers/resnet.h"
#include "train/optimizer.h"
#include "train/train_step.h"

using namespace ds;

static void BM_train_step_resnet18(benchmark::State& state) {
  const int64_t P = state.range(0), N = state.range(1);
  Rng rng(1);
  ResNet net(Arch::resnet18, 2, rng);
  AdamOptions ao;
  ao.weight_decay = 1e-4;
  Adam opt(net.params(), ao);
  Tensor x(Shape{N, 3, P, P});
  for (int64_t i = 0; i < x.numel(); ++i) x[i] = rng.normal();
  std::vector<int> labels((size_t)N);
  for (int64_t i = 0; i < N; ++i) labels[(size_t)i] = (int)(i % 2);
  for (auto _ : state) {
    const StepResult r = train_step(net, opt, x, labels);
    benchmark::DoNotOptimize(r.loss);
  }
  state.counters["img/s"] = benchmark::Counter((double)N * (double)state.iterations(), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_train_step_resnet18)->Args({224, 16})->Args({64, 16})->Unit(benchmark::kMillisecond)->UseRealTime();

BENCHMARK_MAIN();
