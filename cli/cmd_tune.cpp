// deepslide tune: times candidate convolution blockings on this CPU (engine/kernels/conv_tune.h),
// then the direct convolution against Winograd per 3x3 stride-1 shape (fp32, and bf16 where the
// CPU has its kernels), and stores the winners in
// the tuning file (engine/kernels/conv_tuning.h) that every later process reads; --show prints what this CPU is and
// which blocking it would use, as JSON.
#include <cstdio>
#include <iostream>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "base/threads.h"
#include "cli/commands.h"
#include "cli/cpu_report.h"
#include "engine/cpu_caches.h"
#include "engine/cpu_features.h"
#include "engine/kernels/conv_tune.h"
#include "engine/kernels/conv_tuning.h"

namespace ds::cli {

void register_tune(CLI::App& app, Globals& g) {
  struct Opts {
    ConvTuneOptions tune;
    std::string output;
    bool show = false;
  };
  auto o = std::make_shared<Opts>();
  auto* sub = app.add_subcommand(
      "tune", "Time convolution blockings and algorithms on this CPU and store the fastest per shape (about a minute)");
  sub->add_option("--batch", o->tune.batch, "Batch of the timed convolutions")->capture_default_str();
  sub->add_option("--size", o->tune.size, "Input side in pixels (ResNet-18's shapes at this size)")
      ->capture_default_str();
  sub->add_option("--rounds", o->tune.rounds, "Timed calls per candidate (the median counts)")->capture_default_str();
  sub->add_option("--output", o->output, "Tuning file to write (default: this CPU's, see --show)");
  sub->add_flag("--show", o->show, "Print the CPU, its caches and the blocking in use as JSON; tune nothing");
  sub->add_option("--threads", g.threads, "Compute threads (default: all cores)");
  sub->callback([o, &g] {
    DS_CHECK_INPUT(g.threads >= 0, "--threads must be >= 0, got " + std::to_string(g.threads));
    set_num_threads(g.threads);
    if (o->show) {
      nlohmann::ordered_json j = {{"cpu", caches_json()},
                                  {"isa", isa_name(cpu_isa())},
                                  {"threads", num_threads()},
                                  {"derived", blocking_json(derived_conv_blocking())}};
      j.update(tuning_json());
      std::cout << j.dump(2) << "\n";
      return;
    }
    check_conv_tune_options(o->tune);
    const std::string path = o->output.empty() ? conv_tuning_path() : o->output;
    DS_CHECK_INPUT(!path.empty(), "neither XDG_CACHE_HOME nor HOME is set: give --output");
    std::fprintf(stderr, "tune: %s, %s, %d threads, L2 %lld KB: ResNet-18 at batch %lld, %lld px\n",
                 cpu_identity().brand.c_str(), isa_name(cpu_isa()), num_threads(), (long long)cpu_caches().l2 >> 10,
                 (long long)o->tune.batch, (long long)o->tune.size);
    const auto classes = tune_conv_blocking(o->tune, [](const ConvTuneProgress& p) {
      const ConvTunedClass& r = *p.result;
      std::fprintf(stderr, "tune: [%d/%d] %-22s %-11s derived %8.3f ms, best %8.3f ms%s\n", p.done, p.total,
                   p.shape->name.c_str(), conv_pass_name(p.pass), r.derived_ms, r.ms,
                   r.blocking == derived_conv_blocking() ? "" : " (changed)");
    });
    const auto winograd = tune_winograd(o->tune, classes, [](const ConvTuneShape& shape, const WinogradChoice& c) {
      std::fprintf(stderr, "tune: [winograd] %-13s direct %8.3f ms, winograd %8.3f ms: %s\n", shape.name.c_str(),
                   c.direct_ms, c.ms, c.winograd ? "winograd" : "direct");
    });
    auto choices = winograd;
    const auto wgrad = tune_winograd_wgrad(o->tune, classes, [](const ConvTuneShape& shape, const WinogradChoice& c) {
      std::fprintf(stderr, "tune: [wgrad-winograd] %-13s direct %8.3f ms, winograd %8.3f ms: %s\n", shape.name.c_str(),
                   c.direct_ms, c.ms, c.winograd ? "winograd" : "direct");
    });
    choices.insert(choices.end(), wgrad.begin(), wgrad.end());
    const auto bf16 = tune_winograd_bf16(o->tune, [](const ConvTuneShape& shape, const WinogradChoice& c) {
      std::fprintf(stderr, "tune: [bf16-winograd] %-13s bf16 direct %8.3f ms, bf16 winograd %8.3f ms: %s\n",
                   shape.name.c_str(), c.direct_ms, c.ms, c.winograd ? "winograd" : "direct");
    });
    if (bf16.empty()) std::fprintf(stderr, "tune: bf16 not measured: this CPU has no bf16 kernels (AVX512-BF16)\n");
    choices.insert(choices.end(), bf16.begin(), bf16.end());
    write_conv_tuning(path, classes, choices);
    std::fprintf(stderr, "tune: wrote %s\n", path.c_str());
  });
}

}  // namespace ds::cli
