// Whole-model throughput behind `deepslide bench`: a ResNet on a fixed random batch (seeded input
// and labels), timed step by step. Infer mode runs predict_probabilities (weights/model_forward.h), the
// call `deepslide predict` and `classify` make; train mode runs train_step (train/train_step.h),
// the step `deepslide train` takes with its Adam settings. So any optimisation of those paths
// shows here. Also the process's peak resident memory, for comparisons with PyTorch.
// Under mpirun, train mode is data parallel as `deepslide train` is (train/data_parallel.h): the
// batch is split across the ranks, the gradients summed after each backward, and the result is the
// whole job's images/s with the time each step spent in that sum (waiting for the slowest rank
// included); rank 0's figures, which the sum keeps in step with the others'.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "layers/layers.h"
#include "layers/resnet.h"
#include "train/grad_buckets.h"

namespace ds {

struct ModelBenchOptions {
  Arch arch = Arch::resnet18;
  bool train = false;                     // false: eval-mode forward + softmax; true: forward, loss, backward, Adam
  Precision precision = Precision::fp32;  // infer mode's convolutions (training is fp32)
  int batch = 16;
  int size = 224;  // input is batch x 3 x size x size
  int classes = 2;
  int iters = 10;                                // timed steps
  int warmup = 2;                                // untimed steps first
  uint64_t seed = 0;                             // model init, input values and labels
  double lr = 1e-3, weight_decay = 1e-4;         // Adam, as `deepslide train`'s defaults
  double grad_bucket_mb = kDefaultGradBucketMb;  // under mpirun, as train's --grad-bucket-mb
  bool measure_peak = false;                     // measure the FMA peak first (engine/fma_peak.h)
  bool layer_times = false;                      // time each convolution pass in every timed step (conv_ms)
};

struct ModelBenchResult {
  std::vector<double> ms;  // each timed step, milliseconds
  double ms_median = 0, ms_min = 0;
  double images_per_sec = 0;  // batch / median step time (the whole job's batch under mpirun)
  double peak_rss_mb = 0;     // VmHWM after the run (this rank's)
  int ranks = 1;
  std::vector<double> sum_ms;  // each timed step's gradient sum over the ranks (0 alone)
  double sum_ms_median = 0;
  double sum_share = 0;  // time in the sums over the timed steps' time
  // The gradient sum's buckets (0 alone), and how many of them the last step started during
  // backward (overlapped with it) rather than after it.
  size_t grad_buckets = 0, grad_buckets_in_backward = 0;
  std::vector<ConvAlgoUse> conv_algos;  // each convolution's forward algorithm, first step (layers/layers.h)
  // With layer_times: conv_algos[i]'s median wall time over the timed steps, milliseconds (ConvAlgoUse::ms).
  std::vector<double> conv_ms;
  // The convolutions' flops per image of a step as direct convolutions do them (whatever
  // algorithm ran; training: forward, backward data and weight gradients), their rate at the
  // median step, and that rate against the FMA peak measured before the run (measure_peak; else 0).
  double conv_flops_per_image = 0, conv_gflops = 0;
  double fma_peak_gflops = 0, peak_pct = 0;
};

// Checks the options (InputError naming the flag), then builds the model and runs warmup + iters
// steps. progress (optional) gets one line per step (call it on rank 0 only).
ModelBenchResult run_model_bench(const ModelBenchOptions& opt,
                                 const std::function<void(const std::string&)>& progress = {});

// Peak resident set size of this process in MiB (VmHWM in /proc/self/status; 0 if unavailable).
double peak_rss_mb();

}  // namespace ds
