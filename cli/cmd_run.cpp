// deepslide run: flags, and one call to pipeline/runner.h's run_pipeline. What the pipeline needs
// to know of the commands it chains comes from here, off their own CLI11 registration: each
// command's flags (so the config accepts exactly what the separate commands accept) and a dry
// parse of each stage's command line.
#include <functional>
#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "pipeline/runner.h"

namespace ds::cli {

namespace {

// The commands a run chains, registered on an app of their own.
void register_stage_commands(CLI::App& app, Globals& g) {
  register_split(app, g);
  register_train(app, g);
  register_predict(app, g);
  register_search(app, g);
  register_bundle(app, g);
  register_visualize(app, g);
  register_evaluate(app, g);
  register_report(app, g);
}

// One command's long flags and the kind of value each takes, read from its CLI11 options.
CommandFlags command_flags(const CLI::App& sub) {
  CommandFlags c;
  c.command = sub.get_name();
  for (const CLI::Option* o : sub.get_options()) {
    if (o->get_lnames().empty()) continue;
    const std::string name = "--" + o->get_lnames().front();
    if (name == "--help") continue;
    FlagType t = FlagType::text;
    const std::string tn = o->get_type_name().substr(0, o->get_type_name().find(':'));
    if (o->get_items_expected_max() == 0) t = FlagType::on_off_switch;
    else if (tn == "INT") t = FlagType::integer;
    else if (tn == "UINT") t = FlagType::unsigned_integer;
    else if (tn == "FLOAT") t = FlagType::number;
    c.flags[name] = t;
    if (!o->get_default_str().empty()) c.defaults[name] = o->get_default_str();
  }
  return c;
}

// Parses a stage's command line with the command's own registration, without running it: choices,
// exclusions and conversions fail as they would when the stage runs. The parse error, or "".
// The commands' callbacks must stay in place: they own the variables their options write to (a
// shared_ptr in the lambda), so replacing them would free those while the parse writes them.
// Instead the root's parse-complete callback, which CLI11 runs after every option is converted
// and checked and before any subcommand's callback, ends the parse.
std::string dry_parse(const Argv& argv) {
  struct Parsed {};
  CLI::App scratch;
  Globals g;
  scratch.require_subcommand(1);
  scratch.add_option("--threads", g.threads);
  scratch.fallthrough();
  register_stage_commands(scratch, g);
  scratch.parse_complete_callback([] { throw Parsed{}; });
  std::vector<std::string> rev(argv.rbegin(), argv.rend());
  try {
    scratch.parse(rev);
  } catch (const CLI::ParseError& e) {
    return e.what();
  } catch (const Parsed&) {
  }
  return "";
}

StageCommands stage_commands() {
  CLI::App scratch;
  Globals g;
  register_stage_commands(scratch, g);
  StageCommands c;
  for (const CLI::App* sub : scratch.get_subcommands([](CLI::App*) { return true; }))
    c.flags[sub->get_name()] = command_flags(*sub);
  c.rejects = dry_parse;
  return c;
}

}  // namespace

void register_run(CLI::App& app, Globals& g) {
  auto o = std::make_shared<RunOptions>();
  auto* sub = app.add_subcommand("run",
                                 "The whole pipeline from a TOML config: split, train, predict, search, "
                                 "bundle, visualize, evaluate, report (per fold, with the folds' summary, when "
                                 "[split] folds = K); completed stages are skipped");
  sub->add_option("--config", o->config, "Pipeline config (TOML; see configs/deepslide.toml)")->required();
  sub->add_option("--workdir", o->workdir, "Folder for every output (default: the config's workdir)");
  sub->add_flag("--force", o->force, "Rerun every stage in the range, ignoring the stamps");
  sub->add_option("--from", o->from, "First stage to run (the earlier ones must have completed)");
  sub->add_option("--until", o->until, "Last stage to run");
  sub->add_option("--threads", g.threads, "Threads for every stage (default: all cores)");
  sub->callback([o, &g] {
    o->threads = g.threads;
    // The ones given (DEEPSLIDE_WINOGRAD reaches the stages through the environment); the stamps
    // record the algorithms that result (pipeline/build_id.h).
    if (!g.conv_algo.empty()) o->root_flags.insert(o->root_flags.end(), {"--conv-algo", g.conv_algo});
    if (g.tuning != "on") o->root_flags.insert(o->root_flags.end(), {"--tuning", g.tuning});
    run_pipeline(*o, stage_commands(), std::cout, std::cerr);
  });
}

}  // namespace ds::cli
