// Whole-model throughput (see model_bench.h).
#include "train/model_bench.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <optional>
#include <sstream>

#include <unistd.h>

#include "base/error.h"
#include "base/format.h"
#include "base/median.h"
#include "base/rng.h"
#include "base/threads.h"
#include "dist/comm.h"
#include "engine/fma_peak.h"
#include "engine/kernels/layout.h"
#include "train/data_parallel.h"
#include "train/loader.h"
#include "train/optimizer.h"
#include "train/train_step.h"
#include "weights/calibrate.h"
#include "weights/model.h"
#include "weights/model_forward.h"

namespace ds {

double peak_rss_mb() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmHWM:", 0) != 0) continue;
    std::istringstream in(line.substr(6));
    double kb = 0;
    in >> kb;
    return kb / 1024.0;
  }
  return 0;
}

namespace {

// Rows [first, last) of the batch x: this rank's share (all of it alone), as train's loader shares
// a batch, or a calibration chunk.
Tensor rows_of(const Tensor& x, int64_t first, int64_t last) {
  const Shape& s = x.shape();
  Tensor part = Tensor::empty(Shape{last - first, s[1], s[2], s[3]});
  const int64_t row = s[1] * s[2] * s[3];
  std::copy(x.data() + first * row, x.data() + last * row, part.data());
  return part;
}

// A floor on the bytes a run holds per input pixel (training: the activations kept for backward;
// inference: the stem's output and the input), from peak RSS at large sizes less the parameters,
// their gradients and Adam's two moments (16 bytes per parameter): training ResNet-18 ~970 B/px
// and ResNet-34 ~1300 at batch 2, 1024 px, ResNet-50 ~3740 at batch 8, 512 px and batch 4, 448 px;
// inferring 80 at batch 16, 4096 px. Rounded down so that a run which fits is never refused, and
// close enough that one which cannot fit (ResNet-50 training at batch 8, 1024 px: ~31 GiB) is
// refused rather than killed by the OOM killer.
double min_bytes_per_pixel(Arch arch, bool train) {
  if (!train) return 60;
  switch (arch) {
    case Arch::resnet18: return 900;
    case Arch::resnet34: return 1250;
    default: return 3600;
  }
}

// Refuses a batch and size whose activations alone would exceed this machine's memory, before
// anything is allocated: an absurd --size then gets a one-line error, not the allocator's failure
// (or, under overcommit, the OOM killer).
void check_fits_in_memory(const ModelBenchOptions& o) {
  const double phys = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGE_SIZE);
  const double need = (double)o.batch * (double)o.size * (double)o.size * min_bytes_per_pixel(o.arch, o.train);
  DS_CHECK_INPUT(phys <= 0 || need <= phys, "--batch " + std::to_string(o.batch) + " --size " + std::to_string(o.size) +
                                                " needs at least " + format_number("%.3g", need / (1 << 30)) +
                                                " GiB, more than this machine's " +
                                                format_number("%.3g", phys / (1 << 30)) + " GiB of memory");
}

// The flags' checks, once the ranks are known (InputError naming the flag).
void check_options(const ModelBenchOptions& o, const DataParallel& dp) {
  DS_CHECK_INPUT(dp.ranks() == 1 || o.train, "under mpirun `deepslide bench` measures --mode train only");
  // A training step's BatchNorm needs 2 images per rank; inference uses the running statistics.
  DS_CHECK_INPUT(!o.train || o.batch >= dp.min_share() * dp.ranks(),
                 "--batch " + std::to_string(o.batch) + " gives some of the " + std::to_string(dp.ranks()) +
                     " ranks fewer than 2 images (per-rank BatchNorm needs 2)");
  DS_CHECK_INPUT(o.size >= 1, "--size must be at least 1, got " + std::to_string(o.size));
  check_fits_in_memory(o);
  DS_CHECK_INPUT(o.classes >= 2, "--classes must be at least 2, got " + std::to_string(o.classes));
  DS_CHECK_INPUT(o.iters >= 1, "--iters must be at least 1, got " + std::to_string(o.iters));
  DS_CHECK_INPUT(o.warmup >= 0, "--warmup must be >= 0, got " + std::to_string(o.warmup));
  DS_CHECK_INPUT(!o.train || o.precision == Precision::fp32,
                 std::string("--precision ") + precision_name(o.precision) + " is for --mode infer (training is fp32)");
}

// One timed step's pass times into times[pass] (the passes as the first step logged them: the same
// network runs the same passes in the same order every step).
void add_pass_times(std::vector<std::vector<double>>& times, const std::vector<ConvAlgoUse>& step,
                    const std::vector<ConvAlgoUse>& first) {
  DS_CHECK(step.size() == first.size(), "bench: a step ran " + std::to_string(step.size()) +
                                            " convolution passes, the first " + std::to_string(first.size()));
  times.resize(first.size());
  for (size_t p = 0; p < step.size(); ++p) {
    DS_CHECK(step[p].layer == first[p].layer, "bench: pass " + std::to_string(p) + " was " + first[p].layer +
                                                  " in the first step, " + step[p].layer + " in another");
    times[p].push_back(step[p].ms);
  }
}

// The figures over the timed steps: medians, the gradient sum's share, the convolutions' rate.
void summarize(ModelBenchResult& r, const ModelBenchOptions& o, const DataParallel& dp) {
  r.ms_median = median(r.ms);
  r.ms_min = *std::min_element(r.ms.begin(), r.ms.end());
  r.images_per_sec = 1000.0 * o.batch / r.ms_median;
  r.sum_ms_median = median(r.sum_ms);
  double total = 0, in_sums = 0;
  for (size_t i = 0; i < r.ms.size(); ++i) total += r.ms[i], in_sums += r.sum_ms[i];
  r.sum_share = in_sums / total;
  if (const GradBuckets* b = dp.buckets()) {
    r.grad_buckets = b->size();
    r.grad_buckets_in_backward = b->started_in_backward();
  }
  r.peak_rss_mb = peak_rss_mb();
  // Each pass is logged (training: "<layer>", "<layer>/bwd_data", "<layer>/bwd_weights").
  for (const ConvAlgoUse& u : r.conv_algos) r.conv_flops_per_image += u.flops_per_image();
  r.conv_gflops = r.conv_flops_per_image * r.images_per_sec * 1e-9;
  if (r.fma_peak_gflops > 0) r.peak_pct = 100.0 * r.conv_gflops / r.fma_peak_gflops;
}

}  // namespace

ModelBenchResult run_model_bench(const ModelBenchOptions& o, const std::function<void(const std::string&)>& progress) {
  DS_CHECK_INPUT(o.batch >= 1, "--batch must be at least 1, got " + std::to_string(o.batch));
  DataParallel dp(false, o.grad_bucket_mb);  // per-rank BatchNorm: train's default
  check_options(o, dp);
  std::vector<std::string> names;
  for (int c = 0; c < o.classes; ++c) names.push_back("class" + std::to_string(c));
  Model model = make_model(o.arch, names, o.seed, o.size);  // checks size against the network

  Rng rng(o.seed + 1);
  Tensor x = Tensor::empty(Shape{o.batch, 3, o.size, o.size});
  for (int64_t i = 0; i < x.numel(); ++i) x[i] = rng.normal();
  std::vector<int> labels((size_t)o.batch);
  for (int& l : labels) l = (int)rng.uniform_int((uint64_t)o.classes);

  // int8 needs input ranges: calibrated on the benchmark's own input (the timing does not depend
  // on the ranges' values), 4 images at a time, as `deepslide calibrate` would with a small
  // --batch-size: its fp32 passes hold every activation of what they run, and a whole batch's
  // made them the run's peak RSS (ResNet-50 at batch 16: 563 MB, fp32's own peak, against 406 MB
  // for the int8 inference measured).
  if (o.precision == Precision::int8) {
    begin_calibration(model);
    for (int64_t i = 0; i < o.batch; i += 4) calibrate_batch(model, rows_of(x, i, std::min<int64_t>(o.batch, i + 4)));
    finish_calibration(model);
  }

  dp.check_same_run("bench " + std::to_string((int)o.arch) + " " + std::to_string(o.train) + " " +
                    std::to_string(o.batch) + " " + std::to_string(o.size) + " " + std::to_string(o.classes) + " " +
                    std::to_string(o.iters) + " " + std::to_string(o.warmup) + " " + std::to_string(o.seed) + " " +
                    format_number("%a", o.grad_bucket_mb));
  const auto [first, last] = batch_share(o.batch, dp.ranks(), dp.rank(), dp.min_share());
  if (dp.ranks() > 1) {
    x = rows_of(x, first, last);
    labels = std::vector<int>(labels.begin() + first, labels.begin() + last);
  }
  const StepSync sync = dp.step_sync(model.net->params(), (double)(last - first) / (double)o.batch);
  AdamOptions ao;
  ao.lr = o.lr;
  ao.weight_decay = o.weight_decay;
  // Only a training step has an optimizer: its zero-filled moments (2 x 47 MB for ResNet-18) would
  // count in an inference run's peak RSS.
  std::optional<Adam> opt;
  if (o.train) opt.emplace(model.net->params(), ao);

  using Clock = std::chrono::steady_clock;
  ModelBenchResult r;
  // Every rank measures at once, with its threads, before the first step: the job's peak is the
  // ranks' sum, taken as this rank's times their number.
  if (o.measure_peak) r.fma_peak_gflops = measured_fma_peak_gflops(num_threads()) * dp.ranks();
  // Inference takes the batch channels-last, as `predict` runs it (its patches are HWC bytes) and
  // as PyTorch's channels_last is compared (bench/compare_pytorch.py converts its input once).
  Tensor x_hwc;
  if (!o.train) {
    const Shape& s = x.shape();
    x_hwc = Tensor::empty(Shape{s[0], s[2], s[3], s[1]});
    nchw_to_nhwc(x_hwc.data(), x.data(), s[0], s[1], s[2] * s[3]);
    set_model_precision(model, o.precision);
  }
  volatile float sink = 0;  // keeps each step's result observable
  r.ranks = dp.ranks();
  std::vector<std::vector<double>> pass_ms;  // layer_times: [pass][timed step]
  for (int i = 0; i < o.warmup + o.iters; ++i) {
    const bool warm = i < o.warmup;
    std::vector<ConvAlgoUse> step_log;
    const auto t0 = Clock::now();
    const double comm0 = dist::comm_seconds();
    // The first step says what every step runs; with layer_times every timed step's passes are timed.
    if (i == 0) set_conv_algo_log(&r.conv_algos);
    else if (o.layer_times && !warm) set_conv_algo_log(&step_log);
    if (o.train) sink = sink + train_step(*model.net, *opt, x, labels, sync).loss;
    else sink = sink + predict_probabilities_channels_last(model, x_hwc)[0];
    set_conv_algo_log(nullptr);
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    if (o.layer_times && !warm) add_pass_times(pass_ms, i == 0 ? r.conv_algos : step_log, r.conv_algos);
    if (!warm) r.ms.push_back(ms);
    if (!warm) r.sum_ms.push_back(1000.0 * (dist::comm_seconds() - comm0));
    if (progress) {
      char buf[96];
      std::snprintf(buf, sizeof buf, "%s %d/%d: %.1f ms (%.2f img/s)", warm ? "warmup" : "iter",
                    warm ? i + 1 : i - o.warmup + 1, warm ? o.warmup : o.iters, ms, 1000.0 * o.batch / ms);
      progress(buf);
    }
  }
  summarize(r, o, dp);
  for (const std::vector<double>& t : pass_ms) r.conv_ms.push_back(median(t));
  return r;
}

}  // namespace ds
