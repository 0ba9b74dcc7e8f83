// deepslide bench: whole-model throughput (images/s of an inference forward or a training step)
// as one JSON line on stdout (with the algorithm each convolution ran), progress on stderr; for
// bench/compare_pytorch.py and BENCHMARKS.md.
// The measuring is train/model_bench. Under mpirun (--mode train) the step is data parallel and
// rank 0 prints the whole job's figures, with the time spent in the gradient sum.
#include <iostream>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "base/threads.h"
#include "cli/commands.h"
#include "cli/cpu_report.h"
#include "dist/comm.h"
#include "engine/cpu_features.h"
#include "engine/fma_peak.h"
#include "engine/kernels/conv_int8.h"
#include "engine/kernels/conv_winograd.h"
#include "train/model_bench.h"
#include "weights/model_forward.h"

namespace ds::cli {

namespace {

// What the CPU offers beyond the ISA path taken (engine/cpu_features.h).
nlohmann::ordered_json cpu_json() {
  const CpuExtensions& e = cpu_extensions();
  return {{"avx512_bf16", e.avx512_bf16},
          {"avx512_vnni", e.avx512_vnni},
          {"avx_vnni", e.avx_vnni},
          {"amx_bf16", e.amx_bf16},
          {"amx_int8", e.amx_int8},
          {"amx_tile", e.amx_tile},
          {"amx_os_enabled", e.amx_os},
          {"bf16_kernels", has_bf16_kernels()},
          {"bf16_dot_vs_fp32_fma", measured_bf16_dot_ratio()},  // 0 without the bf16 kernels
          {"int8_dot_vs_fp32_fma", measured_int8_dot_ratio()},  // 0 without AVX512-VNNI
          {"amx_bf16_kernels", has_amx_bf16_kernels()},
          {"amx_int8_kernels", has_amx_int8_kernels()},
          {"vnni_kernels", has_vnni_kernels()},
          {"int8_tiles", int8_tiles().name}};
}

// Each convolution's forward algorithm by layer (inference, or the training step's forward).
nlohmann::ordered_json algos_json(const std::vector<ConvAlgoUse>& uses) {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  for (const ConvAlgoUse& u : uses) j[u.layer] = u.algo;
  return j;
}

// With --layers: each convolution pass's median time in the timed steps, its rate and (with
// --peak) that rate against the FMA peak, in the order the step ran them; then their sum.
nlohmann::ordered_json layers_json(const ModelBenchOptions& o, const ModelBenchResult& r) {
  nlohmann::ordered_json passes = nlohmann::ordered_json::array();
  double total = 0;
  for (size_t i = 0; i < r.conv_algos.size() && i < r.conv_ms.size(); ++i) {
    const ConvAlgoUse& u = r.conv_algos[i];
    const double ms = r.conv_ms[i], gflop = u.flops_per_image() * o.batch * 1e-9;
    const double gflops = ms > 0 ? gflop / (ms * 1e-3) : 0;
    total += ms;
    passes.push_back({{"layer", u.layer},
                      {"algo", u.algo},
                      {"c", u.c},
                      {"oc", u.oc},
                      {"k", u.k},
                      {"stride", u.stride},
                      {"out_h", u.out_h},
                      {"out_w", u.out_w},
                      {"gflop", gflop},
                      {"ms", ms},
                      {"gflops", gflops},
                      {"peak_pct", r.fma_peak_gflops > 0 ? 100.0 * gflops / r.fma_peak_gflops : 0.0}});
  }
  return {{"layers", passes}, {"layers_ms", total}};
}

// The JSON line's fields before the tuning's (README, `deepslide bench`).
nlohmann::ordered_json result_json(const ModelBenchOptions& o, const std::string& mode, const ModelBenchResult& r) {
  return {{"arch", arch_name(o.arch)},
          {"mode", mode},
          {"precision", precision_name(o.precision)},
          {"batch", o.batch},
          {"size", o.size},
          {"threads", num_threads()},
          {"isa", isa_name(cpu_isa())},
          {"iters", o.iters},
          {"images_per_sec", r.images_per_sec},
          {"ms_per_batch", r.ms_median},
          {"ms_min", r.ms_min},
          {"peak_rss_mb", r.peak_rss_mb},
          {"conv_gflop_per_image", r.conv_flops_per_image * 1e-9},
          {"conv_gflops", r.conv_gflops},
          {"fma_peak_gflops", r.fma_peak_gflops},
          {"peak_pct", r.peak_pct},
          {"ranks", r.ranks},
          {"allreduce_ms", r.sum_ms_median},
          {"allreduce_share", r.sum_share},
          {"conv_algo", conv_algo_name(winograd_mode())},
          {"conv_algos", algos_json(r.conv_algos)},
          {"grad_bucket_mb", o.grad_bucket_mb},
          {"grad_buckets", r.grad_buckets},
          {"grad_buckets_in_backward", r.grad_buckets_in_backward},
          {"cpu", cpu_json()},
          {"caches", caches_json()}};
}

}  // namespace

void register_bench(CLI::App& app, Globals& g) {
  struct Opts {
    std::string arch = "resnet18", mode = "infer", precision = "fp32";
    ModelBenchOptions bench;
  };
  auto o = std::make_shared<Opts>();
  auto* sub =
      app.add_subcommand("bench", "Measure model throughput: inference forward or training step (one JSON line)");
  sub->add_option("--arch", o->arch, "resnet18|resnet34|resnet50")->capture_default_str();
  sub->add_option("--mode", o->mode, "infer (eval forward + softmax) or train (forward, loss, backward, Adam)")
      ->capture_default_str();
  sub->add_option("--precision", o->precision,
                  "fp32|bf16|int8: the inference convolutions' arithmetic (bf16 needs AVX512-BF16, int8 "
                  "AVX512-VNNI or AVX-VNNI and is calibrated on the benchmark's input; --mode infer only)")
      ->capture_default_str();
  sub->add_option("--batch", o->bench.batch, "Batch size (under mpirun: the whole job's, split across the ranks)")
      ->capture_default_str();
  sub->add_option("--size", o->bench.size, "Input side in pixels")->capture_default_str();
  sub->add_option("--classes", o->bench.classes, "Output classes")->capture_default_str();
  sub->add_option("--iters", o->bench.iters, "Timed steps")->capture_default_str();
  sub->add_option("--warmup", o->bench.warmup, "Untimed steps first")->capture_default_str();
  sub->add_option("--seed", o->bench.seed, "Seed of weights, input and labels")->capture_default_str();
  sub->add_option("--grad-bucket-mb", o->bench.grad_bucket_mb,
                  "--mode train under mpirun: gradient sum bucket size in MB, as train's (0: one sum after backward)")
      ->capture_default_str();
  sub->add_option("--threads", g.threads, "Compute threads (default: all cores)");
  sub->add_flag("--peak", o->bench.measure_peak,
                "Measure the FMA peak first (about a second) and report the convolutions' rate against it");
  sub->add_flag("--layers", o->bench.layer_times,
                "Also time each convolution pass in every timed step and report their medians (the layers field)");
  sub->callback([o, &g] {
    DS_CHECK_INPUT(o->mode == "infer" || o->mode == "train", "--mode must be infer or train, got " + o->mode);
    DS_CHECK_INPUT(g.threads >= 0, "--threads must be >= 0, got " + std::to_string(g.threads));
    o->bench.arch = parse_arch(o->arch);
    o->bench.train = o->mode == "train";
    o->bench.precision = parse_precision(o->precision);
    set_num_threads(g.threads);
    const bool leader = dist::rank() == 0;
    const ModelBenchResult r = run_model_bench(o->bench, [leader](const std::string& s) {
      if (leader) std::cerr << "bench: " << s << "\n";
    });
    if (!leader) return;
    nlohmann::ordered_json j = result_json(o->bench, o->mode, r);
    j.update(tuning_json());
    if (o->bench.layer_times) j.update(layers_json(o->bench, r));
    std::cout << j.dump() << "\n";
  });
}

}  // namespace ds::cli
