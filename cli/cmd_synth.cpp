// deepslide synth: writes a synthetic H&E slide dataset (demo and test data).
#include <chrono>
#include <iostream>

#include "base/threads.h"
#include "cli/commands.h"
#include "slide/synth/synth_slides.h"

namespace ds::cli {

void register_synth(CLI::App& app, Globals& g) {
  auto o = std::make_shared<SynthOptions>();
  auto* sub = app.add_subcommand("synth", "Write a synthetic dataset of H&E-like pyramidal slides");
  sub->add_option("--out", o->out, "Output folder (one sub-folder per class)")->required();
  sub->add_option("--classes", o->classes, "Number of classes")->capture_default_str();
  sub->add_option("--slides-per-class", o->slides_per_class, "Slides per class")->capture_default_str();
  sub->add_option("--width", o->width, "Approximate slide width in pixels")->capture_default_str();
  sub->add_option("--height", o->height, "Approximate slide height in pixels")->capture_default_str();
  sub->add_option("--seed", o->seed, "Random seed")->capture_default_str();
  sub->add_option("--mpp", o->mpp, "Microns per pixel recorded in the files")->capture_default_str();
  sub->add_option("--stain-shift", o->stain_shift,
                  "Redraw the slides with another lab's stain: other H and E vectors and a colour cast (0..2)")
      ->capture_default_str();
  sub->add_option("--jpeg-quality", o->quality, "JPEG quality of the tiles")->capture_default_str();
  sub->callback([o, &g] {
    set_num_threads(g.threads);
    o->threads = g.threads;
    auto t0 = std::chrono::steady_clock::now();
    auto paths = write_synth_dataset(*o);
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::cout << "synth: wrote " << paths.size() << " slides (" << o->classes << " classes) to " << o->out << " in "
              << (int)(s * 10) / 10.0 << " s\n";
  });
}

}  // namespace ds::cli
