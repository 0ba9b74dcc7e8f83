// deepslide run: the whole DeepSlide pipeline from one TOML file (pipeline/pipeline_config.h)
// in one workdir (pipeline/stages.h). A stage that completes leaves a stamp
// (WORKDIR/.stages/<stage>.json, pipeline/stage_stamp.h); a stage whose settings, inputs and
// outputs still match its stamp is skipped, and once a stage runs every later stage runs too.
// A stage re-entered after an interruption resumes where that pays: train continues from its
// last checkpoint (--resume) and predict keeps the slides it finished. Each stage runs as a
// child process (pipeline/stage_process.h); when stage N fails, the stamps of the stages before
// it stay.
#pragma once
#include <functional>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "pipeline/pipeline_config.h"
#include "pipeline/stages.h"

namespace ds {

struct RunOptions {
  std::string config;       // the TOML file
  std::string workdir;      // "" for the config's
  std::string from, until;  // first and last stage to run ("" for all)
  bool force = false;       // rerun every stage in the range, ignoring the stamps
  int threads = 0;          // passed to every stage (0: the stages' default)
  // Root flags every stage gets, as the run was given them (--conv-algo, --tuning off: they
  // change what train and predict compute); before the command, as a user would type them.
  std::vector<std::string> root_flags;
};

// What the run needs to know of the commands it chains: cli/ reads it off their registration.
struct StageCommands {
  std::map<std::string, CommandFlags> flags;  // by command name
  // Why the command would reject a stage's command line ("" when it parses); every command line
  // is checked before anything runs, so a bad setting fails now, not after hours of training.
  std::function<std::string(const Argv&)> rejects;
};

// The whole run. Its log (what runs and why, each stage's command line, a summary) goes to
// `log`, interleaved with the stages' own output; a stage killed by a signal is reported on `err`.
// InputError (exit code 2 of a stage, bad config) or InternalError when a stage fails.
void run_pipeline(const RunOptions& opt, const StageCommands& commands, std::ostream& log, std::ostream& err);

}  // namespace ds
