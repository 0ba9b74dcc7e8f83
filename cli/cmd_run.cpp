// deepslide run: the whole DeepSlide pipeline from one TOML file (pipeline/pipeline_config.h):
// split -> train -> predict (val, test) -> search -> visualize -> evaluate -> report, in one
// workdir with DeepSlide's folder names. A stage that completes leaves a stamp
// (WORKDIR/.stages/<stage>.json, pipeline/stage_stamp.h); a stage whose settings, inputs and
// outputs still match its stamp is skipped, and once a stage runs every later stage runs too.
// A stage re-entered after an interruption resumes where that pays: train continues from its
// last checkpoint (--resume) and predict keeps the slides it finished.
//
// Each stage runs as a child process: /proc/self/exe with exactly the arguments a user would
// type (printed before it runs). Not in-process through the CLI11 app, because every command's
// options are bound at registration to state that a second parse in the same process would start
// from (predict runs twice), and thread counts and caches are process-wide. A child process is
// `deepslide <command> ...` as typed by hand, so `run` and the separate commands cannot diverge,
// and a crash or an out-of-memory kill in stage N ends only stage N: this process reports it and
// the stamps of the stages before N stay.
#include <algorithm>
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>

#include "cli/commands.h"
#include "pipeline/pipeline_config.h"
#include "pipeline/stage_stamp.h"
#include "base/error.h"
#include "train/checkpoint.h"

namespace fs = std::filesystem;

namespace ds::cli {

namespace {

const std::vector<std::string> kStages = {"split", "train", "predict", "search", "visualize", "evaluate", "report"};

// Flags that change how fast a stage runs, not what it produces: left out of the fingerprint.
const std::set<std::string> kSpeedOnly = {"--threads", "--workers", "--readers", "--checkpoint-minutes"};
// Train flags a resumed run may change (besides the speed-only ones; --epochs only upwards).
const std::set<std::string> kTrainResumable = {"--save-interval", "--max-steps", "--epochs"};

using Argv = std::vector<std::string>;

struct RunOpts {
  std::string config, workdir, from, until;
  bool force = false;
};

// One stage of the plan: its command line(s) and the paths that decide whether it is current.
struct Stage {
  std::string name;
  std::vector<Argv> commands;         // {"train", "--epochs", "4", ...}; predict has two
  std::vector<std::string> inputs;    // files and folders it reads
  std::vector<std::string> outputs;   // files and folders it writes (fingerprinted in the stamp)
  std::vector<std::string> required;  // files it must leave behind to count as complete
  std::vector<std::string> clear;     // removed before a fresh (not resumed) run
};

// The first of `paths` that does not exist ("" when all do).
std::string first_missing(const std::vector<std::string>& paths) {
  std::error_code ec;
  for (const std::string& p : paths)
    if (!fs::exists(p, ec)) return p;
  return "";
}

// The commands a run chains, registered on an app of its own (flag checks, dry parses).
void register_stage_commands(CLI::App& app, Globals& g) {
  register_split(app, g);
  register_train(app, g);
  register_predict(app, g);
  register_search(app, g);
  register_visualize(app, g);
  register_evaluate(app, g);
  register_report(app, g);
}

std::vector<StageSpec> stage_specs() {
  // The commands' own registration, on a scratch app: the config accepts exactly their flags.
  CLI::App scratch;
  Globals g;
  register_stage_commands(scratch, g);
  const std::string paths = " (it points into the workdir)";
  std::vector<StageSpec> specs = {
      {"split", {}, {"--out"}, paths},
      {"train", {}, {"--out", "--labels-train", "--labels-val", "--resume", "--train-folder"},
       " (run trains on the split's labels_*.csv into the workdir and resumes by itself)"},
      {"predict", {}, {"--model", "--labels", "--out", "--force"},
       " (run predicts the val and test slides with the trained best.safetensors)"},
      {"search", {}, {"--preds", "--labels", "--out"}, paths},
      {"visualize", {}, {"--labels", "--preds", "--out", "--model"}, paths},
      {"evaluate", {}, {"--preds", "--labels", "--aggregator", "--out"}, paths},
      {"report", {}, {"--run", "--out", "--eval", "--search", "--preds", "--vis", "--log"}, paths},
  };
  for (StageSpec& s : specs) s.flags = command_flags(*scratch.get_subcommand(s.name));
  return specs;
}

// Parses each stage's command line with the command's own CLI11 registration (callbacks off),
// so choices, exclusions and conversions fail now, naming the config, not after hours of training.
void dry_parse(const std::string& config, const std::vector<Stage>& stages) {
  for (const Stage& st : stages) {
    for (const Argv& a : st.commands) {
      CLI::App scratch;
      Globals g;
      scratch.require_subcommand(1);
      scratch.add_option("--threads", g.threads);
      scratch.fallthrough();
      register_stage_commands(scratch, g);
      for (CLI::App* sub : scratch.get_subcommands([](CLI::App*) { return true; })) sub->callback(std::function<void()>());
      std::vector<std::string> rev(a.rbegin(), a.rend());
      try {
        scratch.parse(rev);
      } catch (const CLI::ParseError& e) {
        throw InputError(config, "[" + st.name + "]: deepslide " + a[0] + " rejects these settings: " + e.what());
      }
    }
  }
}

Argv fingerprint_argv(const Argv& a) {
  Argv out;
  for (size_t i = 0; i < a.size(); ++i) {
    if (kSpeedOnly.count(a[i])) {
      if (i + 1 < a.size() && a[i + 1].rfind("--", 0) != 0) ++i;
      continue;
    }
    out.push_back(a[i]);
  }
  return out;
}

json commands_json(const Stage& st) {
  json j = json::array();
  for (const Argv& a : st.commands) j.push_back(fingerprint_argv(a));
  return j;
}

// flag -> value ("" for a switch) of one command line.
std::map<std::string, std::string> flag_map(const json& argv) {
  std::map<std::string, std::string> m;
  for (size_t i = 1; i < argv.size(); ++i) {
    const std::string t = argv[i].get<std::string>();
    if (t.rfind("--", 0) != 0) continue;
    const bool has_value = i + 1 < argv.size() && argv[i + 1].get<std::string>().rfind("--", 0) != 0;
    m[t] = has_value ? argv[i + 1].get<std::string>() : "";
  }
  return m;
}

std::string describe_change(const json& before, const json& now) {
  std::set<std::string> seen;
  std::string out;
  for (size_t c = 0; c < std::max(before.size(), now.size()); ++c) {
    const auto a = c < before.size() ? flag_map(before[c]) : std::map<std::string, std::string>{};
    const auto b = c < now.size() ? flag_map(now[c]) : std::map<std::string, std::string>{};
    std::set<std::string> keys;
    for (const auto& [k, v] : a) keys.insert(k);
    for (const auto& [k, v] : b) keys.insert(k);
    for (const std::string& k : keys) {
      const bool in_a = a.count(k), in_b = b.count(k);
      if (in_a && in_b && a.at(k) == b.at(k)) continue;
      std::string d = k + " " + (in_a ? (a.at(k).empty() ? "on" : a.at(k)) : "(default)") + " -> " +
                      (in_b ? (b.at(k).empty() ? "on" : b.at(k)) : "(default)");
      if (seen.insert(d).second) out += (out.empty() ? "" : ", ") + d;
    }
  }
  return out.empty() ? "command line changed" : out;
}

// "" when the stamp says the stage is complete and current, else why it must run.
std::string stale_reason(const Stage& st, const std::optional<json>& stamp, const json& cmds, const json& inputs) {
  if (!stamp) return "no completed run recorded";
  if ((*stamp)["commands"] != cmds) return "settings changed: " + describe_change((*stamp)["commands"], cmds);
  const json& old_in = (*stamp)["inputs"];
  for (auto it = inputs.begin(); it != inputs.end(); ++it)
    if (!old_in.contains(it.key()) || old_in[it.key()] != it.value()) return "input changed: " + it.key();
  if (old_in.size() != inputs.size()) return "inputs changed";
  if (const std::string miss = first_missing(st.required); !miss.empty()) return "output missing: " + miss;
  const json& old_out = (*stamp)["outputs"];
  for (const std::string& p : st.outputs) {
    const json now = path_fingerprint(p);
    if (!old_out.contains(p) || old_out[p] != now)
      return (now.contains("missing") ? "output missing: " : "output changed since it was written: ") + p;
  }
  return "";
}

// May train resume from its checkpoints instead of starting over? Same inputs, and the same
// flags except the resumable ones (--epochs may only grow).
bool train_resumable(const json& prev, const json& cmds, const json& inputs, const CommandFlags& flags) {
  if (prev["inputs"] != inputs || prev["commands"].size() != 1 || cmds.size() != 1) return false;
  auto a = flag_map(prev["commands"][0]), b = flag_map(cmds[0]);
  const std::string def = flags.defaults.count("--epochs") ? flags.defaults.at("--epochs") : "0";
  const std::string ea = a.count("--epochs") ? a["--epochs"] : def, eb = b.count("--epochs") ? b["--epochs"] : def;
  try {
    if (std::stoll(eb) < std::stoll(ea)) return false;
  } catch (...) {
    return false;
  }
  for (const std::string& k : kTrainResumable) {
    a.erase(k);
    b.erase(k);
  }
  return a == b;
}

std::string shell_quote(const std::string& s) {
  if (!s.empty() && s.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=,:+@%") ==
                        std::string::npos)
    return s;
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// Runs `deepslide <argv>` as a child (this same binary) and returns its exit code (128 + signal
// when it was killed).
int run_child(const Argv& argv, int threads) {
  Argv full = {"deepslide"};
  if (threads > 0) full.insert(full.end(), {"--threads", std::to_string(threads)});
  full.insert(full.end(), argv.begin(), argv.end());
  std::string shown = "$";
  for (const std::string& t : full) shown += " " + shell_quote(t);
  std::cout << shown << std::endl;
  std::fflush(stdout);
  std::vector<char*> cargs;
  for (std::string& t : full) cargs.push_back(t.data());
  cargs.push_back(nullptr);
  // fork + exec rather than posix_spawn, for PR_SET_PDEATHSIG: when this process is killed, the
  // stage it started is too, instead of running on unattended. The child inherits the workdir
  // lock's descriptor, so the lock lasts as long as either process.
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) throw InternalError(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(1);
    execv("/proc/self/exe", cargs.data());
    std::fprintf(stderr, "deepslide run: cannot start /proc/self/exe: %s\n", std::strerror(errno));
    _exit(127);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) throw InternalError(std::string("waitpid: ") + std::strerror(errno));
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) {
    std::cerr << "deepslide run: " << argv[0] << " was killed by signal " << WTERMSIG(status) << " ("
              << strsignal(WTERMSIG(status)) << ")\n";
    return 128 + WTERMSIG(status);
  }
  return 1;
}

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

int stage_index(const std::string& name, const char* flag) {
  for (size_t i = 0; i < kStages.size(); ++i)
    if (kStages[i] == name) return (int)i;
  std::string all;
  for (const std::string& s : kStages) all += (all.empty() ? "" : ", ") + s;
  throw InputError(flag, "unknown stage '" + name + "' (stages: " + all + ")");
}

// The stages with their command lines, for workdir W (absolute) and the parsed config.
std::vector<Stage> plan(const PipelineConfig& cfg, const fs::path& W) {
  auto P = [&](const std::string& rel) { return (W / rel).string(); };
  auto cmd = [&](const std::string& stage, const Argv& managed) {
    Argv a = {stage};
    for (const FlagSetting& s : cfg.settings.at(stage)) a.insert(a.end(), s.tokens.begin(), s.tokens.end());
    a.insert(a.end(), managed.begin(), managed.end());
    return a;
  };
  auto all_wsi = [&](const std::string& stage) {
    const FlagSetting* s = cfg.find(stage, "--all-wsi");
    return s ? std::vector<std::string>{s->value} : std::vector<std::string>{};
  };
  auto cat = [](std::vector<std::string> a, const std::vector<std::string>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
  };
  const std::string lt = P("labels_train.csv"), lv = P("labels_val.csv"), lte = P("labels_test.csv");
  const std::string model = P("best.safetensors"), log = P("log.csv");
  const std::string pv = P("preds_val"), pt = P("preds_test"), iv = P("inference_val"), it = P("inference_test"),
                    vis = P("vis_test"), report = P("report.html");
  std::vector<Stage> st;
  st.push_back({"split", {cmd("split", {"--out", W.string()})}, all_wsi("split"), {lt, lv, lte}, {lt, lv, lte},
                {lt, lv, lte}});
  std::vector<std::string> train_in = cat(all_wsi("train"), {lt, lv});
  if (const FlagSetting* pre = cfg.find("train", "--pretrained")) train_in.push_back(pre->value);
  st.push_back({"train",
                {cmd("train", {"--labels-train", lt, "--labels-val", lv, "--out", W.string()})},
                train_in,
                {model, log},
                {model},
                {P("checkpoints"), log, model}});
  st.push_back({"predict",
                {cmd("predict", {"--model", model, "--labels", lv, "--out", pv}),
                 cmd("predict", {"--model", model, "--labels", lte, "--out", pt})},
                cat(all_wsi("predict"), {model, lv, lte}),
                {pv, pt},
                {pv + "/predict.json", pt + "/predict.json"},
                {pv, pt}});
  st.push_back({"search", {cmd("search", {"--preds", pv, "--labels", lv, "--out", iv})}, {pv, lv}, {iv},
                {iv + "/aggregator.json"}, {iv}});
  st.push_back({"visualize",
                {cmd("visualize", {"--labels", lte, "--preds", pt, "--out", vis, "--model", model})},
                cat(all_wsi("visualize"), {lte, pt, model}),
                {vis},
                {vis + "/visualize.json"},
                {vis}});
  st.push_back({"evaluate",
                {cmd("evaluate", {"--preds", pt, "--labels", lte, "--aggregator", iv + "/aggregator.json", "--out", it})},
                {pt, lte, iv + "/aggregator.json"},
                {it},
                {it + "/metrics.json"},
                {it}});
  st.push_back({"report",
                {cmd("report", {"--run", W.string(), "--eval", it, "--search", iv, "--preds", pt, "--vis", vis, "--log",
                                log, "--out", report})},
                {it, iv, pt, vis, log},
                {report},
                {report},
                {report}});
  return st;
}

// Existence checks on the inputs the config names, before anything runs.
void check_config_paths(const PipelineConfig& cfg, int first, int last) {
  for (int i = first; i <= last; ++i) {
    const std::string& name = kStages[(size_t)i];
    const FlagSetting* w = cfg.find(name, "--all-wsi");
    if (!w && (name == "split" || name == "train" || name == "predict" || name == "visualize"))
      throw InputError(cfg.path, "no slide folder: set all_wsi = \"DIR\" in [common] (used by split, train, predict, "
                                 "visualize)");
    std::error_code ec;
    if (w && !fs::is_directory(w->value, ec))
      throw InputError(w->where, w->what + ": no such folder: " + w->value +
                                     (fs::exists(w->value, ec) ? " (it is a file)" : ""));
    const FlagSetting* pre = cfg.find(name, "--pretrained");
    if (pre && !fs::is_regular_file(pre->value, ec)) throw InputError(pre->where, pre->what + ": no such file: " + pre->value);
  }
}

struct StageResult {
  std::string name;
  std::string status;  // "ran", "skipped", "not run"
  double seconds = 0;
  std::string note;
};

void print_summary(const std::vector<StageResult>& results, const std::string& shown_workdir, double total) {
  std::cout << "\ndeepslide run: summary (workdir " << shown_workdir << ")\n";
  for (const StageResult& r : results) {
    char buf[200];
    std::string what = r.status == "ran" ? seconds_text(r.seconds) : r.status;
    if (!r.note.empty()) what += " (" + r.note + ")";
    std::snprintf(buf, sizeof buf, "  %-10s %s", r.name.c_str(), what.c_str());
    std::cout << buf << "\n";
  }
  std::cout << "  total      " << seconds_text(total) << "\n";
}

void run_pipeline(const RunOpts& o, const Globals& g) {
  const auto t_all = std::chrono::steady_clock::now();
  const std::vector<StageSpec> specs = stage_specs();
  const PipelineConfig cfg = load_pipeline_config(o.config, specs);
  const std::string shown = !o.workdir.empty() ? o.workdir : cfg.workdir;
  if (shown.empty())
    throw InputError(o.config, "no workdir: give --workdir DIR or set workdir = \"DIR\" at the top of the file");
  const int first = o.from.empty() ? 0 : stage_index(o.from, "--from");
  const int last = o.until.empty() ? (int)kStages.size() - 1 : stage_index(o.until, "--until");
  if (first > last) throw InputError("--from " + o.from, "comes after --until " + o.until);
  check_config_paths(cfg, first, last);

  const fs::path W = fs::absolute(shown).lexically_normal();
  std::vector<Stage> stages = plan(cfg, W);
  dry_parse(cfg.path, stages);
  const CommandFlags& train_flags =
      std::find_if(specs.begin(), specs.end(), [](const StageSpec& s) { return s.name == "train"; })->flags;

  std::error_code ec;
  fs::create_directories(W, ec);
  if (ec) throw InputError(shown, "cannot create the workdir: " + ec.message());
  const fs::path stamps = W / ".stages";
  fs::create_directories(stamps, ec);
  if (ec) throw InputError(stamps.string(), "cannot create folder: " + ec.message());
  // One run per workdir at a time.
  const std::string lock_path = (stamps / "lock").string();
  const int lock_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT, 0644);
  if (lock_fd < 0) throw InputError(lock_path, std::string("cannot open: ") + std::strerror(errno));
  if (flock(lock_fd, LOCK_EX | LOCK_NB) != 0)
    throw InputError(shown, "another deepslide run is using this workdir (" + lock_path + " is locked)");

  std::cout << "deepslide run: config " << o.config << ", workdir " << shown << ", stages " << kStages[(size_t)first]
            << " .. " << kStages[(size_t)last] << (o.force ? " (--force)" : "") << "\n";
  for (int i = 0; i < first; ++i) {
    const Stage& st = stages[(size_t)i];
    const std::string sp = (stamps / (st.name + ".json")).string();
    auto stamp = read_stamp(sp);
    const std::string missing = first_missing(st.required);
    if (!stamp || !missing.empty())
      throw InputError("--from " + o.from, "stage " + st.name + " has not completed in " + shown +
                                               (stamp ? " (" + missing + " is missing)" : " (no " + sp + ")") +
                                               "; run it first (--from " + st.name + " or no --from)");
    const std::string why = stale_reason(st, stamp, commands_json(st), paths_fingerprint(st.inputs));
    if (!why.empty())
      std::cout << "note: " << st.name << " is out of date (" << why << "); --from " << o.from
                << " uses its existing results\n";
  }

  // The run replaces only outputs it wrote itself: a stage in range with no record in .stages
  // whose output paths already exist (a hand-made labels CSV, another tool's checkpoints/) stops
  // the run before anything is removed.
  for (int i = first; i <= last; ++i) {
    const Stage& st = stages[(size_t)i];
    if (fs::exists(stamps / (st.name + ".json"), ec) || fs::exists(stamps / (st.name + ".attempt.json"), ec)) continue;
    for (const std::string& p : st.clear)
      if (fs::exists(fs::symlink_status(p, ec)))
        throw InputError(p, "exists, but " + stamps.string() + " has no record of deepslide run writing it (stage " +
                                st.name + "); move it away or use another --workdir");
  }

  std::vector<StageResult> results;
  for (int i = 0; i < first; ++i) results.push_back({kStages[(size_t)i], "not run", 0, "before --from"});
  bool cascade = false;
  for (int i = first; i <= last; ++i) {
    Stage& st = stages[(size_t)i];
    const std::string tag = "[" + std::to_string(i + 1) + "/" + std::to_string(kStages.size()) + "] " + st.name;
    const std::string stamp_path = (stamps / (st.name + ".json")).string();
    const std::string attempt_path = (stamps / (st.name + ".attempt.json")).string();
    const json cmds = commands_json(st);
    const json inputs = paths_fingerprint(st.inputs);
    const auto stamp = read_stamp(stamp_path);
    const auto attempt = read_stamp(attempt_path);
    std::string why = o.force     ? "--force"
                      : cascade   ? "an earlier stage ran"
                      : !stamp && attempt ? "its last run did not complete"
                                          : stale_reason(st, stamp, cmds, inputs);
    if (why.empty()) {
      std::cout << "\n" << tag << ": skipped (up to date)\n";
      results.push_back({st.name, "skipped (up to date)", 0, ""});
      continue;
    }
    cascade = true;
    std::cout << "\n" << tag << ": running (" << why << ")" << std::endl;

    // Resume where that pays, else start over from empty outputs.
    bool resume = false;
    if (!o.force && st.name == "train") {
      const std::optional<json>& prev = attempt ? attempt : stamp;
      if (prev && train_resumable(*prev, cmds, inputs, train_flags) &&
          !latest_checkpoint((W / "checkpoints").string()).empty()) {
        resume = true;
        for (Argv& a : st.commands) a.push_back("--resume");
        std::cout << "resuming from the last checkpoint in " << (W / "checkpoints").string() << "\n";
      }
    }
    if (!o.force && st.name == "predict" && attempt && (*attempt)["commands"] == cmds && (*attempt)["inputs"] == inputs) {
      resume = true;  // predict skips the slides whose CSV an interrupted run finished
      std::cout << "resuming: slides predicted before the interruption are kept\n";
    }
    if (!resume) {
      std::string removed;
      for (const std::string& p : st.clear) {
        if (!fs::exists(fs::symlink_status(p, ec))) continue;
        fs::remove_all(p, ec);
        if (ec) throw InputError(p, "cannot remove the previous output: " + ec.message());
        removed += (removed.empty() ? "" : ", ") + fs::path(p).filename().string();
      }
      if (!removed.empty()) std::cout << "removed the previous outputs: " << removed << "\n";
    }
    fs::remove(stamp_path, ec);
    json record;
    record["stage"] = st.name;
    record["deepslide_version"] = DEEPSLIDE_VERSION;
    record["commands"] = cmds;
    record["inputs"] = inputs;
    record["outputs"] = json::object();
    record["started"] = now_utc();
    write_stamp(attempt_path, record);

    const auto t0 = std::chrono::steady_clock::now();
    for (const Argv& a : st.commands) {
      const int rc = run_child(a, g.threads);
      if (rc == 0) continue;
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      results.push_back({st.name, "FAILED", secs, "exit code " + std::to_string(rc)});
      for (int j = i + 1; j < (int)kStages.size(); ++j) results.push_back({kStages[(size_t)j], "not run", 0, ""});
      print_summary(results, shown, std::chrono::duration<double>(std::chrono::steady_clock::now() - t_all).count());
      std::string kept;
      for (int j = 0; j < i; ++j) kept += (kept.empty() ? "" : ", ") + kStages[(size_t)j];
      const std::string msg = "stage " + st.name + " failed (deepslide " + a[0] + " exited with code " +
                              std::to_string(rc) + ", its message is above)" +
                              (kept.empty() ? "" : "; " + kept + " kept") + "; fix the cause and rerun deepslide run";
      if (rc == 2) throw InputError(o.config, msg);
      throw InternalError(o.config + ": " + msg);
    }
    if (const std::string miss = first_missing(st.required); !miss.empty())
      throw InputError(o.config, "stage " + st.name + " finished without writing " + miss +
                                     (st.name == "train" ? " (did [train] max_steps stop it before an epoch ended?)"
                                                         : ""));
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    record.erase("started");
    record["outputs"] = paths_fingerprint(st.outputs);
    record["fingerprint"] = fnv1a_hex(cmds.dump() + inputs.dump());
    record["seconds"] = secs;
    record["finished"] = now_utc();
    write_stamp(stamp_path, record);
    fs::remove(attempt_path, ec);
    std::cout << tag << ": done in " << seconds_text(secs) << "\n";
    results.push_back({st.name, "ran", secs, resume ? "resumed" : ""});
  }
  for (int i = last + 1; i < (int)kStages.size(); ++i) results.push_back({kStages[(size_t)i], "not run", 0, "after --until"});
  print_summary(results, shown, std::chrono::duration<double>(std::chrono::steady_clock::now() - t_all).count());

  // Results of stages after --until may be stale: name them only when their stage is current.
  const bool evaluated = last >= stage_index("evaluate", ""), reported = last >= stage_index("report", "");
  const fs::path metrics = W / "inference_test" / "metrics.json";
  std::ifstream in(metrics);
  if (evaluated && in) {
    json m = json::parse(in, nullptr, false);
    if (!m.is_discarded() && m.contains("accuracy") && m["accuracy"].is_number()) {
      char buf[200];
      std::snprintf(buf, sizeof buf, "slide-level test accuracy: %.4f (%lld slides; mean class accuracy %.4f)",
                    m["accuracy"].get<double>(), (long long)m.value("slides", 0),
                    m.value("mean_class_accuracy", 0.0));
      std::cout << buf << "\n";
    }
  }
  if (reported && fs::exists(W / "report.html", ec))
    std::cout << "report: " << (fs::path(shown) / "report.html").string() << "\n";
  ::close(lock_fd);
}

}  // namespace

void register_run(CLI::App& app, Globals& g) {
  auto o = std::make_shared<RunOpts>();
  auto* sub = app.add_subcommand("run", "The whole pipeline from a TOML config: split, train, predict, search, "
                                        "visualize, evaluate, report; completed stages are skipped");
  sub->add_option("--config", o->config, "Pipeline config (TOML; see configs/deepslide.toml)")->required();
  sub->add_option("--workdir", o->workdir, "Folder for every output (default: the config's workdir)");
  sub->add_flag("--force", o->force, "Rerun every stage in the range, ignoring the stamps");
  sub->add_option("--from", o->from, "First stage to run (the earlier ones must have completed)");
  sub->add_option("--until", o->until, "Last stage to run");
  sub->add_option("--threads", g.threads, "Threads for every stage (default: all cores)");
  sub->callback([o, &g] { run_pipeline(*o, g); });
}

}  // namespace ds::cli
