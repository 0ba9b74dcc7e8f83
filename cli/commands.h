// Declarations of the subcommands; cli/main.cpp registers each one with CLI11.
// Each cli/cmd_<name>.cpp defines its register function and is the only place that parses
// that command's flags and prints for users.
#pragma once
#include <CLI/CLI.hpp>
#include <string>

namespace ds::cli {

// Options common to every command.
struct Globals {
  int threads = 0;            // 0 = all cores
  std::string tuning = "on";  // "off": ignore the convolution tuning file (engine/kernels/conv_tuning.h)
  std::string conv_algo;      // --conv-algo: "" (DEEPSLIDE_WINOGRAD, else auto), auto, direct or winograd
};

void register_classify(CLI::App& app, Globals& g);
void register_info(CLI::App& app, Globals& g);
void register_read_region(CLI::App& app, Globals& g);
void register_associated(CLI::App& app, Globals& g);
void register_convert(CLI::App& app, Globals& g);
void register_bench_read(CLI::App& app, Globals& g);
void register_bench(CLI::App& app, Globals& g);
void register_init_model(CLI::App& app, Globals& g);
void register_split(CLI::App& app, Globals& g);
void register_patches(CLI::App& app, Globals& g);
void register_synth(CLI::App& app, Globals& g);
void register_train(CLI::App& app, Globals& g);
void register_predict(CLI::App& app, Globals& g);
void register_search(CLI::App& app, Globals& g);
void register_evaluate(CLI::App& app, Globals& g);
void register_visualize(CLI::App& app, Globals& g);
void register_report(CLI::App& app, Globals& g);
void register_bundle(CLI::App& app, Globals& g);
void register_diagnose(CLI::App& app, Globals& g);
void register_run(CLI::App& app, Globals& g);
void register_geojson(CLI::App& app, Globals& g);
void register_calibrate(CLI::App& app, Globals& g);
void register_serve(CLI::App& app, Globals& g);
void register_tune(CLI::App& app, Globals& g);

}  // namespace ds::cli
