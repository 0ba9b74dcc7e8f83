// deepslide: the one binary. Registers every subcommand, turns exceptions into one line on
// stderr with exit code 2 (bad input), 1 (internal error) or 128 + the signal (a job stopped
// cleanly by SIGINT or SIGTERM: 130, 143). Under mpirun/srun (dist/comm.h) the ranks start
// together; a rank that fails prints its line, naming its rank, and ends the whole job with its
// exit code (the others would wait for it for ever), unless every rank had already finished
// together (dist::finished_together: predict's "slides failed" at the end). Only the commands in
// kRunsOnRanks run on more than one rank.
#include <cstdio>
#include <exception>
#include <filesystem>
#include <iostream>
#include <new>

#include <CLI/CLI.hpp>

#include "base/error.h"
#include "base/format.h"
#include "base/interrupt.h"
#include "base/isa_cap.h"
#include "base/threads.h"
#include "cli/commands.h"
#include "cli/integer_options.h"
#include "dist/comm.h"
#include "engine/kernels/conv_tuning.h"
#include "engine/kernels/conv_winograd.h"

namespace {

// train: data parallel; predict, diagnose, patches: slides shared out (dist/work_queue.h); bench:
// --mode train measures the data-parallel step.
bool runs_on_ranks(const std::string& cmd) {
  for (const char* c : {"train", "predict", "diagnose", "patches", "bench"})
    if (cmd == c) return true;
  return false;
}

// Messages quote file names and values as given; Linux paths stop at 4096 bytes, so longer text is
// something typed or crafted to flood the terminal.
constexpr size_t kMaxMessage = 4400;

// The exit code of the exception being handled, after its one line on stderr.
int report(const CLI::App& app) {
  const std::string who = ds::dist::size() > 1 ? "deepslide (rank " + std::to_string(ds::dist::rank()) + " of " +
                                                     std::to_string(ds::dist::size()) + ")"
                                               : "deepslide";
  try {
    throw;
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    std::cerr << who << ": error: " << ds::one_line(e.what(), 300) << " (--help lists the options)\n";
    return 2;
  } catch (const ds::Interrupted& e) {
    std::cerr << who << ": " << e.what() << "\n";
    return e.exit_code();
  } catch (const ds::InputError& e) {
    std::cerr << who << ": error: " << ds::one_line(e.what(), kMaxMessage) << "\n";
    return 2;
  } catch (const ds::InternalError& e) {
    std::cerr << who << ": internal error: " << ds::one_line(e.what(), kMaxMessage) << "\n";
    return 1;
  } catch (const std::filesystem::filesystem_error& e) {
    // About a path the user gave or a folder we were told to use (a link loop, no permission):
    // an input error, said as one.
    std::cerr << who << ": error: " << ds::one_line(e.path1().string() + ": " + e.code().message(), kMaxMessage)
              << "\n";
    return 2;
  } catch (const std::bad_alloc&) {
    std::cerr << who << ": error: out of memory\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << who << ": error: " << ds::one_line(e.what(), kMaxMessage) << "\n";
    return 1;
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"deepslide.cpp: whole-slide histopathology classification (DeepSlide in C++)"};
  app.set_version_flag("--version", std::string("deepslide ") + DEEPSLIDE_VERSION);
  app.require_subcommand(1);
  ds::cli::Globals g;
  app.add_option("--threads", g.threads, "Threads for every command (default, or 0: all cores)");
  app.add_option("--tuning", g.tuning, "on|off: use this CPU's convolution tuning file (deepslide tune)")
      ->check(CLI::IsMember({"on", "off"}))
      ->capture_default_str();
  app.add_option("--conv-algo", g.conv_algo,
                 "auto|direct|winograd: the 3x3 stride-1 convolutions' algorithm, inference and training (forward, "
                 "weight gradients, backward data) "
                 "(auto: what deepslide tune measured on this CPU, else a rule; default: DEEPSLIDE_WINOGRAD, else "
                 "auto)")
      ->check(CLI::IsMember({"auto", "direct", "winograd"}));
  app.fallthrough();
  ds::cli::register_classify(app, g);
  ds::cli::register_info(app, g);
  ds::cli::register_read_region(app, g);
  ds::cli::register_associated(app, g);
  ds::cli::register_convert(app, g);
  ds::cli::register_bench_read(app, g);
  ds::cli::register_bench(app, g);
  ds::cli::register_init_model(app, g);
  ds::cli::register_split(app, g);
  ds::cli::register_patches(app, g);
  ds::cli::register_synth(app, g);
  ds::cli::register_train(app, g);
  ds::cli::register_predict(app, g);
  ds::cli::register_search(app, g);
  ds::cli::register_evaluate(app, g);
  ds::cli::register_visualize(app, g);
  ds::cli::register_report(app, g);
  ds::cli::register_bundle(app, g);
  ds::cli::register_diagnose(app, g);
  ds::cli::register_run(app, g);
  ds::cli::register_geojson(app, g);
  ds::cli::register_calibrate(app, g);
  ds::cli::register_serve(app, g);
  ds::cli::register_tune(app, g);
  ds::cli::refuse_out_of_range_integers(app);
  app.parse_complete_callback([&app, &g] {
    ds::isa_cap_from_env();  // a bad DEEPSLIDE_ISA stops here, before any kernel or thread reads it
    ds::check_thread_count(g.threads, "--threads");  // every command's, before any thread starts
    ds::set_conv_tuning_enabled(g.tuning != "off");
    if (!g.conv_algo.empty()) ds::force_winograd_mode(ds::parse_conv_algo(g.conv_algo, "--conv-algo"));
    const std::string cmd = app.get_subcommands().front()->get_name();
    if (ds::dist::size() > 1 && !runs_on_ranks(cmd))
      throw ds::InputError("deepslide " + cmd + " runs in one process; under mpirun/srun (" +
                           std::to_string(ds::dist::size()) +
                           " ranks here) only train, predict, diagnose, patches and bench run");
  });
  int code = 0;
  try {
    ds::dist::init(&argc, &argv);
    app.parse(argc, argv);
  } catch (...) {
    code = report(app);
    if (code != 0 && ds::dist::size() > 1 && !ds::dist::finished_together()) {
      std::cerr.flush();
      ds::dist::abort_job(code);
    }
  }
  ds::dist::finalize();
  return code;
}
