// The run, step by step: plan and check everything, lock the workdir, then each stage in the
// range (skip, or resume or clear, run its commands, stamp it), then the summary.
#include "pipeline/runner.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <map>
#include <optional>

#include "base/atomic_file.h"
#include "base/error.h"
#include "base/folder_lock.h"
#include "base/interrupt.h"
#include "base/output_dirs.h"
#include "infer/crossval.h"
#include "infer/evaluation.h"
#include "pipeline/build_id.h"
#include "pipeline/stage_process.h"
#include "pipeline/stage_stamp.h"
#include "train/checkpoint.h"

namespace fs = std::filesystem;

namespace ds {

namespace {

using json = nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;

double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::string now_utc() {
  const std::time_t t = std::time(nullptr);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

std::string seconds_text(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f s", s);
  return buf;
}

struct StageResult {
  std::string name;
  std::string status;  // "ran", "skipped (up to date)", "not run", "FAILED", "stopped"
  double seconds = 0;
  std::string note;
};

class Runner {
 public:
  Runner(const RunOptions& o, const StageCommands& commands, std::ostream& log, std::ostream& err)
      : o_(o), commands_(commands), log_(log), err_(err) {}

  void run();

 private:
  // The config, the stage range and the command lines, all checked before anything is written.
  void plan();

  // One run per workdir at a time: an exclusive lock on WORKDIR/.stages/lock, held by this process
  // while the stages run and inherited by the stage processes, so that a stage still stopping
  // after this process was killed keeps a rerun out until it has saved its state.
  void lock_workdir();

  std::string stamp_path(const Stage& st) const { return (stamps_ / (st.name + ".json")).string(); }
  std::string attempt_path(const Stage& st) const { return (stamps_ / (st.name + ".attempt.json")).string(); }

  // --from uses the results of the stages before it: they must have completed (a stale one is
  // only noted).
  void check_stages_before_from();

  // The run replaces only outputs it wrote itself: a stage in range with no record in .stages
  // whose output paths already exist (a hand-made labels CSV, another tool's checkpoints/) stops
  // the run before anything is removed.
  void check_no_foreign_outputs() const;

  // Skips stage i of the plan when it is up to date, else runs it.
  void run_stage(size_t i);

  // The crossval stage, in-process: the folds' metrics.json (its inputs) summarized into its output.
  void summarize_folds_stage(const Stage& st);

  int kind_of(const Stage& st) const { return stage_index(st.kind, ""); }

  // Resume where that pays: train from its last checkpoint (adds --resume), predict keeping the
  // slides an interrupted run with the same settings finished.
  bool resumes(Stage& st, const std::optional<json>& stamp, const std::optional<json>& attempt, const json& cmds,
               const json& inputs);

  void remove_outputs(const Stage& st);

  // The stage's inputs fingerprinted, without the workdir (its files are outputs of stages).
  json inputs_fingerprint(const Stage& st) {
    return stamp_keyed(paths_fingerprint(stage_inputs(st), hashes_, workdir_.lexically_normal().string()), st.root);
  }

  // A stage that starts loses its stamp and gets an attempt record (.stages/<stage>.attempt.json,
  // its commands and inputs); when it completes, the record becomes its stamp (outputs
  // fingerprinted, time taken).
  json stamp_attempt(const Stage& st, const json& cmds, const json& inputs);
  void stamp_completed(const Stage& st, json& record, double seconds);

  // Stage i's command `a` exited with code rc: the summary, then the error (an InputError when
  // the stage's was one, exit code 2).
  [[noreturn]] void fail(size_t i, const Argv& a, int rc, double seconds);
  // SIGINT or SIGTERM stopped the run at stage i: in it (`in_stage`: run_stage_process passed it on
  // and waited for the stage to save its state), or before it started. The summary, and
  // Interrupted.
  [[noreturn]] void stopped(size_t i, double seconds, bool in_stage);

  void print_summary() const;

  // The test accuracy and the report's path. Results of stages after --until may be stale:
  // named only when their stage is in the range.
  void print_outcome() const;

  const RunOptions& o_;
  const StageCommands& commands_;
  std::ostream& log_;
  std::ostream& err_;
  const Clock::time_point start_ = Clock::now();
  PipelineConfig cfg_;
  std::string shown_;          // the workdir as given
  fs::path workdir_;           // absolute
  Workdir files_{fs::path()};  // its files and folders
  fs::path stamps_;
  int first_ = 0, last_ = 0;
  std::vector<Stage> stages_;
  CommandFlags train_flags_;
  int folds_ = 0;                   // [split] folds, 0 for a run without cross-validation
  std::optional<FolderLock> lock_;  // WORKDIR/.stages/lock while the run lasts
  FileHashCache hashes_;            // WORKDIR/.stages/hashes.json, once the workdir is locked
  json build_;                      // this binary (pipeline/build_id.h)
  std::vector<StageResult> results_;
};

void Runner::run() {
  plan();
  // SIGINT and SIGTERM are passed on to the running stage, which saves its state; the run then
  // stops after it (run_stage_process, stopped()).
  install_stop_handlers();
  lock_workdir();
  log_ << "deepslide run: config " << o_.config << ", workdir " << shown_ << ", stages " << kStages[(size_t)first_]
       << " .. " << kStages[(size_t)last_] << (o_.force ? " (--force)" : "") << "\n";
  check_stages_before_from();
  check_no_foreign_outputs();
  // A stage that ran does not make the later ones run: each compares the contents of what it reads
  // with its stamp, so a stage whose rerun wrote the same files (split after a test slide was
  // replaced) leaves the stages after it as they were, and a changed output reruns the ones that
  // read it.
  for (size_t i = 0; i < stages_.size(); ++i) {
    const Stage& st = stages_[i];
    const int k = kind_of(st);
    if (k < first_ || k > last_) {
      results_.push_back({st.name, "not run", 0, k < first_ ? "before --from" : "after --until"});
      continue;
    }
    if (stop_signal()) stopped(i, 0, false);
    run_stage(i);
  }
  hashes_.save();
  print_summary();
  print_outcome();
  lock_.reset();
}

void Runner::plan() {
  const std::vector<StageSpec> specs = stage_specs(commands_.flags);
  cfg_ = load_pipeline_config(o_.config, specs);
  shown_ = !o_.workdir.empty() ? o_.workdir : cfg_.workdir;
  if (shown_.empty())
    throw InputError(o_.config, "no workdir: give --workdir DIR or set workdir = \"DIR\" at the top of the file");
  first_ = o_.from.empty() ? 0 : stage_index(o_.from, "--from");
  last_ = o_.until.empty() ? (int)kStages.size() - 1 : stage_index(o_.until, "--until");
  if (first_ > last_) throw InputError("--from " + o_.from, "comes after --until " + o_.until);
  check_config_paths(cfg_, first_, last_);
  workdir_ = fs::absolute(shown_).lexically_normal();
  files_ = Workdir(workdir_);
  folds_ = config_folds(cfg_);
  stages_ = plan_stages(cfg_, workdir_);
  for (const Stage& st : stages_)
    for (const Argv& a : st.commands)
      if (const std::string why = commands_.rejects(a); !why.empty())
        throw InputError(cfg_.path, "[" + st.name + "]: deepslide " + a[0] + " rejects these settings: " + why);
  train_flags_ = commands_.flags.at("train");
}

void Runner::lock_workdir() {
  std::error_code ec;
  fs::create_directories(workdir_, ec);
  if (ec) throw InputError(shown_, "cannot create the workdir: " + ec.message());
  stamps_ = workdir_ / ".stages";
  make_output_dirs(workdir_.string(), ".stages");  // (a link there would take the stamps elsewhere)
  lock_.emplace((stamps_ / "lock").string(), shown_, "deepslide run (or a stage it started, still stopping)");
  lock_->keep_across_exec();
  // Locked: a temporary file here or two levels down (fold<k>/inference_test/) is a killed
  // process's (a stage that is now up to date would never sweep its folder again).
  remove_dead_temporaries(workdir_.string(), 2);
  hashes_ = FileHashCache((stamps_ / "hashes.json").string());
  build_ = build_identity(hashes_);
}

void Runner::check_stages_before_from() {
  for (const Stage& st : stages_) {
    if (kind_of(st) >= first_) continue;
    const std::string sp = stamp_path(st);
    const auto stamp = read_stamp(sp);
    const std::string missing = first_missing(st.required);
    if (!stamp || !missing.empty())
      throw InputError("--from " + o_.from, "stage " + st.name + " has not completed in " + shown_ +
                                                (stamp ? " (" + missing + " is missing)" : " (no " + sp + ")") +
                                                "; run it first (--from " + st.name + " or no --from)");
    const std::string why = stale_reason(st, stamp, commands_json(st), build_, inputs_fingerprint(st), hashes_);
    if (!why.empty())
      log_ << "note: " << st.name << " is out of date (" << why << "); --from " << o_.from
           << " uses its existing results\n";
  }
}

void Runner::check_no_foreign_outputs() const {
  std::error_code ec;
  for (const Stage& st : stages_) {
    if (kind_of(st) < first_ || kind_of(st) > last_) continue;
    if (fs::exists(stamp_path(st), ec) || fs::exists(attempt_path(st), ec)) continue;
    for (const std::string& p : st.clear)
      if (fs::exists(fs::symlink_status(p, ec)))
        throw InputError(p, "exists, but " + stamps_.string() + " has no record of deepslide run writing it (stage " +
                                st.name + "); move it away or use another --workdir");
  }
}

void Runner::run_stage(size_t i) {
  Stage& st = stages_[i];
  const std::string tag = "[" + std::to_string(i + 1) + "/" + std::to_string(stages_.size()) + "] " + st.name;
  const json cmds = commands_json(st);
  const json inputs = inputs_fingerprint(st);
  const auto stamp = read_stamp(stamp_path(st));
  const auto attempt = read_stamp(attempt_path(st));
  const std::string why = o_.force            ? "--force"
                          : !stamp && attempt ? "its last run did not complete"
                                              : stale_reason(st, stamp, cmds, build_, inputs, hashes_);
  if (why.empty()) {
    log_ << "\n" << tag << ": skipped (up to date)\n";
    results_.push_back({st.name, "skipped (up to date)", 0, ""});
    return;
  }
  log_ << "\n" << tag << ": running (" << why << ")" << std::endl;
  if (stop_signal()) stopped(i, 0, false);  // before anything of it is removed or stamped
  const bool resume = resumes(st, stamp, attempt, cmds, inputs);
  if (!resume) remove_outputs(st);
  json record = stamp_attempt(st, cmds, inputs);
  const auto t0 = Clock::now();
  for (const Argv& a : st.commands) {
    const int rc = run_stage_process(a, o_.threads, o_.root_flags, log_, err_);
    // (A stage that finished as the stop came is stamped; the run stops before the next one.)
    if (rc != 0 && stop_signal()) stopped(i, since(t0), true);
    if (rc != 0) fail(i, a, rc, since(t0));
  }
  if (st.kind == "crossval") summarize_folds_stage(st);
  if (const std::string miss = first_missing(st.required); !miss.empty())
    throw InputError(o_.config,
                     "stage " + st.name + " finished without writing " + miss +
                         (st.kind == "train" ? " (did [train] max_steps stop it before an epoch ended?)" : ""));
  const double secs = since(t0);
  stamp_completed(st, record, secs);
  log_ << tag << ": done in " << seconds_text(secs) << "\n";
  results_.push_back({st.name, "ran", secs, resume ? "resumed" : ""});
}

// Do two fingerprints of a stage's inputs agree on everything but its slides and label CSVs?
bool same_unless_slides(const Stage& st, const json& before, const json& now) {
  for (const std::string& p : st.inputs) {
    if (std::find(st.slide_labels.begin(), st.slide_labels.end(), p) != st.slide_labels.end()) continue;
    const std::string k = stamp_path_key(p, st.root);
    if (!before.contains(k) || !now.contains(k) || before[k] != now[k]) return false;
  }
  return true;
}

bool Runner::resumes(Stage& st, const std::optional<json>& stamp, const std::optional<json>& attempt, const json& cmds,
                     const json& inputs) {
  if (o_.force) return false;
  const std::string checkpoints = Workdir(st.dir).checkpoints;
  if (st.kind == "train") {
    const std::optional<json>& prev = attempt ? attempt : stamp;
    if (prev && train_resumable(*prev, cmds, inputs, train_flags_) && !latest_checkpoint(checkpoints).empty()) {
      for (Argv& a : st.commands) a.push_back("--resume");
      log_ << "resuming from the last checkpoint in " << checkpoints << "\n";
      return true;
    }
  }
  // predict with the same settings and model: its own key files tell the slides to redo (changed,
  // added, or not finished before an interruption) from the ones to keep.
  const std::optional<json>& prev = attempt ? attempt : stamp;
  if (st.kind == "predict" && prev && (*prev)["commands"] == cmds &&
      same_unless_slides(st, (*prev)["inputs"], inputs)) {
    log_ << (attempt ? "resuming: slides predicted before the interruption are kept\n"
                     : "same model and settings: predict redoes only the slides that changed\n");
    return true;
  }
  return false;
}

void Runner::remove_outputs(const Stage& st) {
  std::error_code ec;
  std::string removed;
  for (const std::string& p : st.clear) {
    if (!fs::exists(fs::symlink_status(p, ec))) continue;
    fs::remove_all(p, ec);
    if (ec) throw InputError(p, "cannot remove the previous output: " + ec.message());
    removed += (removed.empty() ? "" : ", ") + fs::path(p).filename().string();
  }
  if (!removed.empty()) log_ << "removed the previous outputs: " << removed << "\n";
}

json Runner::stamp_attempt(const Stage& st, const json& cmds, const json& inputs) {
  std::error_code ec;
  fs::remove(stamp_path(st), ec);
  json record;
  record["stage"] = st.name;
  record["build"] = build_;
  record["commands"] = cmds;
  record["inputs"] = inputs;
  record["outputs"] = json::object();
  record["started"] = now_utc();
  write_stamp(attempt_path(st), record);
  return record;
}

void Runner::stamp_completed(const Stage& st, json& record, double seconds) {
  record.erase("started");
  record["outputs"] = stamp_keyed(paths_fingerprint(st.outputs, hashes_), st.root);
  record["fingerprint"] = fnv1a_hex(record["commands"].dump() + record["inputs"].dump());
  record["seconds"] = seconds;
  record["finished"] = now_utc();
  write_stamp(stamp_path(st), record);
  std::error_code ec;
  fs::remove(attempt_path(st), ec);
  hashes_.save();
}

void Runner::fail(size_t i, const Argv& a, int rc, double seconds) {
  const std::string& name = stages_[i].name;
  results_.push_back({name, "FAILED", seconds, "exit code " + std::to_string(rc)});
  for (size_t j = i + 1; j < stages_.size(); ++j) results_.push_back({stages_[j].name, "not run", 0, ""});
  hashes_.save();
  print_summary();
  std::string kept;
  for (size_t j = 0; j < i; ++j) kept += (kept.empty() ? "" : ", ") + stages_[j].name;
  const std::string msg = "stage " + name + " failed (deepslide " + a[0] + " exited with code " + std::to_string(rc) +
                          ", its message is above)" + (kept.empty() ? "" : "; " + kept + " kept") +
                          "; fix the cause and rerun deepslide run";
  if (rc == 2) throw InputError(o_.config, msg);
  throw InternalError(o_.config + ": " + msg);
}

void Runner::stopped(size_t i, double seconds, bool in_stage) {
  const std::string& name = stages_[i].name;
  const std::string sig = stop_signal() == SIGINT ? "SIGINT" : "SIGTERM";
  if (in_stage) results_.push_back({name, "stopped", seconds, sig});
  for (size_t j = in_stage ? i + 1 : i; j < stages_.size(); ++j)
    results_.push_back({stages_[j].name, "not run", 0, j == i ? sig : ""});
  hashes_.save();
  print_summary();
  throw Interrupted(stop_signal(), "stopped (" + sig + ") " + (in_stage ? "in" : "before") + " stage " + name +
                                       "; run the same command again to continue from where it stopped");
}

void Runner::print_summary() const {
  log_ << "\ndeepslide run: summary (workdir " << shown_ << ")\n";
  for (const StageResult& r : results_) {
    char buf[200];
    std::string what = r.status == "ran" ? seconds_text(r.seconds) : r.status;
    if (!r.note.empty()) what += " (" + r.note + ")";
    std::snprintf(buf, sizeof buf, folds_ ? "  %-16s %s" : "  %-10s %s", r.name.c_str(), what.c_str());
    log_ << buf << "\n";
  }
  log_ << (folds_ ? "  total            " : "  total      ") << seconds_text(since(start_)) << "\n";
}

void Runner::summarize_folds_stage(const Stage& st) {
  std::vector<std::string> names;
  for (size_t k = 0; k < st.inputs.size(); ++k) names.push_back("fold" + std::to_string(k));
  write_crossval(summarize_folds(names, st.inputs), st.outputs.at(0));
}

void Runner::print_outcome() const {
  if (folds_) {
    if (last_ < stage_index("crossval", "")) return;
    try {
      const CrossValidation c = read_crossval(files_.crossval);
      for (const MetricSpread& m : c.metrics)
        if (m.name == "accuracy" && m.n > 0) {
          char buf[240];
          std::snprintf(buf, sizeof buf,
                        "cross-validation: slide-level test accuracy over %zu folds: mean %.4f, sd %.4f, min %.4f, "
                        "max %.4f",
                        c.folds.size(), m.mean, m.sd, m.min, m.max);
          log_ << buf << "\n";
        }
      log_ << "cross-validation summary: " << (fs::path(shown_) / "crossval.json").string() << "\n";
    } catch (const InputError&) {
      // No summary line without a readable crossval.json.
    }
    if (last_ >= stage_index("report", ""))
      log_ << "reports: " << (fs::path(shown_) / "fold*" / "report.html").string() << "\n";
    return;
  }
  if (last_ >= stage_index("evaluate", "")) {
    try {
      const Evaluation e = read_evaluation(files_.metrics);
      if (!std::isnan(e.metrics.accuracy)) {
        char buf[200];
        std::snprintf(buf, sizeof buf, "slide-level test accuracy: %.4f (%lld slides; mean class accuracy %.4f)",
                      e.metrics.accuracy, (long long)e.slides, e.metrics.mean_class_accuracy);
        log_ << buf << "\n";
      }
    } catch (const InputError&) {
      // No accuracy line without a readable metrics.json.
    }
  }
  std::error_code ec;
  if (last_ >= stage_index("bundle", "") && fs::exists(files_.bundle, ec))
    log_ << "model bundle: " << (fs::path(shown_) / "bundle.safetensors").string()
         << " (diagnose new slides with deepslide diagnose --bundle)\n";
  if (last_ >= stage_index("report", "") && fs::exists(files_.report, ec))
    log_ << "report: " << (fs::path(shown_) / "report.html").string() << "\n";
}

}  // namespace

void run_pipeline(const RunOptions& opt, const StageCommands& commands, std::ostream& log, std::ostream& err) {
  Runner(opt, commands, log, err).run();
}

}  // namespace ds
