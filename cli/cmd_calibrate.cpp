// deepslide calibrate: flags, one call to infer/calibrate_inputs.h (a model's int8 input ranges
// measured on windows of slides or on patches, and bf16's and int8's agreement with fp32), and the
// model written again with both in its metadata (every other key kept, so a bundle stays a bundle).
#include <iostream>
#include <memory>

#include "base/error.h"
#include "base/threads.h"
#include "cli/commands.h"
#include "cli/window_flags.h"
#include "infer/bundle.h"
#include "infer/calibrate_inputs.h"

namespace ds::cli {

namespace {

struct CalibrateOpts {
  std::string model, out;
  std::vector<std::string> inputs;
  int64_t windows = 512;
  int64_t agreement_windows = 256;
  int batch_size = 16;
  WindowFlags win;
};

void run_calibrate(const CalibrateOpts& o, const Globals& g) {
  set_num_threads(g.threads);
  std::map<std::string, std::string> meta;
  Model model = load_model(o.model, &meta);
  // A bundle's recipe reads the windows as diagnose will; flags given override it.
  WindowOptions w = is_bundle(meta) ? o.win.resolve_over(recipe_from_metadata(o.model, meta, model).windows)
                                    : o.win.resolve_for(model.trained_at, 3.0, "calibrate");
  w.patch_size = model.patch_size;
  const CalibrationSummary s =
      calibrate_on_inputs(model, o.inputs, w, o.windows, o.agreement_windows, o.batch_size, g.threads,
                          [](const std::string& p) { std::cerr << "calibrate: " << p << "\n"; });
  save_model(o.out, model, extra_metadata(meta));
  std::cout << "calibrate: " << s.windows << " windows; " << s.int8_convs << " of " << s.convs
            << " convolutions run int8 (the others fp32); wrote " << o.out << "\n";
  for (const auto& [name, e] : {std::pair{"bf16", s.agreement.bf16}, std::pair{"int8", s.agreement.int8}})
    if (e.measured)
      std::cout << "calibrate: " << name << " agrees with fp32 on " << e.argmax_agreement * 100 << "% of "
                << s.agreement.windows << " windows' argmax, max |probability difference| " << e.max_abs_dp << "\n";
  if (!s.agreement_note.empty()) std::cout << "calibrate: agreement " << s.agreement_note << "\n";
}

}  // namespace

void register_calibrate(CLI::App& app, Globals& g) {
  auto o = std::make_shared<CalibrateOpts>();
  auto* sub = app.add_subcommand(
      "calibrate", "Measure a model's int8 input ranges on slide windows or patches (for --precision int8)");
  sub->add_option("--model", o->model, "Model file or bundle (.safetensors)")->required();
  sub->add_option("--out", o->out, "Model file to write, the ranges in its metadata (may be --model)")->required();
  sub->add_option("inputs", o->inputs,
                  "Slides (windows read as predict reads them; folders walked for slides as diagnose walks them) or "
                  "PNG/JPEG patches")
      ->required();
  sub->add_option("--windows", o->windows, "Slide windows to measure at most, spread over the slides")
      ->capture_default_str();
  sub->add_option("--agreement-windows", o->agreement_windows,
                  "Windows (of those measured, spread over them) on which bf16 and int8 are compared with fp32 "
                  "for --precision auto; 0: not compared, at most 2048")
      ->capture_default_str();
  sub->add_option("--batch-size", o->batch_size, "Windows per forward pass")->capture_default_str();
  sub->add_option("--threads", g.threads, "Threads (default: all cores)");
  add_window_flags(sub, o->win, "3, or the bundle's");
  sub->callback([o, &g] { run_calibrate(*o, g); });
}

}  // namespace ds::cli
