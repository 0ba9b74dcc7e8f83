// The stage table, the plan for a workdir, and the staleness checks against stamps.
#include "pipeline/stages.h"

#include <algorithm>
#include <set>

#include "base/error.h"
#include "base/json_bounded.h"
#include "pipeline/stage_stamp.h"
#include "slide/reader/slide_identity.h"
#include "slide/windows/labels_csv.h"

namespace fs = std::filesystem;

namespace ds {

const std::vector<std::string> kStages = {"split",     "train",    "predict",  "search", "bundle",
                                          "visualize", "evaluate", "crossval", "report"};

namespace {

using json = nlohmann::ordered_json;

// Flags that change how fast a stage runs, not what it produces: left out of the fingerprint.
const std::set<std::string> kSpeedOnly = {"--threads",        "--workers",       "--readers", "--checkpoint-minutes",
                                          "--commit-seconds", "--grad-bucket-mb"};
// Train flags a resumed run may change (besides the speed-only ones; --epochs only upwards).
const std::set<std::string> kTrainResumable = {"--save-interval", "--max-steps", "--epochs"};

void add_unique(std::vector<std::string>& to, const std::vector<std::string>& paths) {
  std::set<std::string> have(to.begin(), to.end());
  for (const std::string& p : paths)
    if (have.insert(p).second) to.push_back(p);
}

// The values of a stage's config keys that name an existing file or folder (a pretrained model, a
// stain reference image, an annotations folder): their contents are inputs, as much as the
// settings are. The slide folder is left out: the slides a stage reads stand for it (stage_inputs).
std::vector<std::string> config_paths(const PipelineConfig& cfg, const std::string& stage) {
  // (Flags that name what a stage writes are not inputs: train's --windows-csv.)
  static const std::set<std::string> outputs = {"--windows-csv"};
  std::vector<std::string> out;
  std::error_code ec;
  for (const FlagSetting& s : cfg.settings.at(stage))
    if (s.flag != "--all-wsi" && !outputs.count(s.flag) && s.tokens.size() == 2 && !s.value.empty() &&
        fs::exists(s.value, ec))
      add_unique(out, {s.value});
  return out;
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

// "--overlap 1 -> 1.5, --mode (default) -> dots": what differs between two sets of command lines.
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

}  // namespace

Workdir::Workdir(const fs::path& w)
    : dir(w.string()),
      labels_train((w / "labels_train.csv").string()),
      labels_val((w / "labels_val.csv").string()),
      labels_test((w / "labels_test.csv").string()),
      model((w / "best.safetensors").string()),
      log((w / "log.csv").string()),
      checkpoints((w / "checkpoints").string()),
      preds_val((w / "preds_val").string()),
      preds_test((w / "preds_test").string()),
      inference_val((w / "inference_val").string()),
      inference_test((w / "inference_test").string()),
      vis((w / "vis_test").string()),
      report((w / "report.html").string()),
      aggregator(inference_val + "/aggregator.json"),
      metrics(inference_test + "/metrics.json"),
      bundle((w / "bundle.safetensors").string()),
      crossval((w / "crossval.json").string()) {}

std::vector<StageSpec> stage_specs(const std::map<std::string, CommandFlags>& flags) {
  const std::string paths = " (it points into the workdir)";
  std::vector<StageSpec> specs = {
      {"split", {}, {"--out"}, paths},
      {"train",
       {},
       {"--out", "--labels-train", "--labels-val", "--resume", "--train-folder"},
       " (run trains on the split's labels_*.csv into the workdir and resumes by itself)"},
      {"predict",
       {},
       {"--model", "--labels", "--out", "--force"},
       " (run predicts the val and test slides with the trained best.safetensors)"},
      {"search", {}, {"--preds", "--labels", "--out"}, paths},
      {"bundle",
       {},
       {"--model", "--aggregator", "--out"},
       " (run bundles the trained best.safetensors with the search's aggregator.json)"},
      {"visualize", {}, {"--labels", "--preds", "--out", "--model"}, paths},
      {"evaluate", {}, {"--preds", "--labels", "--aggregator", "--out"}, paths},
      {"report", {}, {"--run", "--out", "--eval", "--search", "--preds", "--vis", "--log", "--crossval"}, paths},
  };
  for (StageSpec& s : specs) s.flags = flags.at(s.name);
  return specs;
}

int stage_index(const std::string& name, const char* flag) {
  for (size_t i = 0; i < kStages.size(); ++i)
    if (kStages[i] == name) return (int)i;
  std::string all;
  for (const std::string& s : kStages) all += (all.empty() ? "" : ", ") + s;
  throw InputError(flag, "unknown stage '" + name + "' (stages: " + all + ")");
}

int config_folds(const PipelineConfig& cfg) {
  const FlagSetting* f = cfg.find("split", "--folds");
  if (!f) return 0;
  long long k = 0;
  try {
    k = std::stoll(f->value);
  } catch (...) {
    k = -1;
  }
  if (k < 3 || k > kMaxFolds)
    throw InputError(f->where, f->what + " must be from 3 to " + std::to_string(kMaxFolds) + ", got " + f->value +
                                   " (a fold to test on, one to validate on, at least one to train on)");
  return (int)k;
}

namespace {

// The stages after split for one run folder: the workdir, or a fold's folder in a cross-validation
// run (group "fold<k>"), whose reports also show the run's cross-validation summary.
std::vector<Stage> run_stages(const PipelineConfig& cfg, const Workdir& w, const std::string& group,
                              const std::string& crossval) {
  // The stage's command: the config's settings, then the paths the run sets itself.
  auto cmd = [&](const std::string& stage, const Argv& managed) {
    Argv a = {stage};
    for (const FlagSetting& s : cfg.settings.at(stage)) a.insert(a.end(), s.tokens.begin(), s.tokens.end());
    a.insert(a.end(), managed.begin(), managed.end());
    return a;
  };
  auto all_wsi = [&](const std::string& stage) {
    const FlagSetting* s = cfg.find(stage, "--all-wsi");
    return s ? s->value : std::string();
  };
  const Argv predict_val = cmd("predict", {"--model", w.model, "--labels", w.labels_val, "--out", w.preds_val});
  const Argv predict_test = cmd("predict", {"--model", w.model, "--labels", w.labels_test, "--out", w.preds_test});
  Argv report = {"--run",      w.dir,   "--eval", w.inference_test, "--search", w.inference_val, "--preds",
                 w.preds_test, "--vis", w.vis,    "--log",          w.log,      "--out",         w.report};
  std::vector<std::string> report_in = {w.inference_test, w.inference_val, w.preds_test, w.vis, w.log};
  if (!crossval.empty()) {
    report.insert(report.end(), {"--crossval", crossval});
    report_in.push_back(crossval);
  }
  // [report] compare = ["LABEL=FOLDER", ...]: those evaluations are inputs too, so the report is
  // redone when one of them changes.
  if (const FlagSetting* cmp = cfg.find("report", "--compare"))
    for (const std::string& t : cmp->tokens)
      if (t != "--compare" && t.rfind('=') != std::string::npos)
        report_in.push_back((fs::path(t.substr(t.rfind('=') + 1)) / "metrics.json").string());
  std::vector<Stage> out = {
      {"train",
       "",
       "",
       "",
       {cmd("train", {"--labels-train", w.labels_train, "--labels-val", w.labels_val, "--out", w.dir})},
       {w.labels_train, w.labels_val},
       {w.model, w.log},
       {w.model},
       {w.checkpoints, w.log, w.model},
       {w.labels_train, w.labels_val}},
      {"predict",
       "",
       "",
       "",
       {predict_val, predict_test},
       {w.model, w.labels_val, w.labels_test},
       {w.preds_val, w.preds_test},
       {w.preds_val + "/predict.json", w.preds_test + "/predict.json"},
       {w.preds_val, w.preds_test},
       {w.labels_val, w.labels_test}},
      {"search",
       "",
       "",
       "",
       {cmd("search", {"--preds", w.preds_val, "--labels", w.labels_val, "--out", w.inference_val})},
       {w.preds_val, w.labels_val},
       {w.inference_val},
       {w.aggregator},
       {w.inference_val}},
      {"bundle",
       "",
       "",
       "",
       {cmd("bundle", {"--model", w.model, "--aggregator", w.aggregator, "--out", w.bundle})},
       {w.model, w.aggregator, w.log},  // (its provenance summarizes the log.csv beside the model)
       {w.bundle},
       {w.bundle},
       {w.bundle}},
      {"visualize",
       "",
       "",
       "",
       {cmd("visualize", {"--labels", w.labels_test, "--preds", w.preds_test, "--out", w.vis, "--model", w.model})},
       {w.labels_test, w.preds_test, w.model},
       {w.vis},
       {w.vis + "/visualize.json"},
       {w.vis},
       {w.labels_test}},
      {"evaluate",
       "",
       "",
       "",
       {cmd("evaluate", {"--preds", w.preds_test, "--labels", w.labels_test, "--aggregator", w.aggregator, "--out",
                         w.inference_test})},
       {w.preds_test, w.labels_test, w.aggregator},
       {w.inference_test},
       {w.metrics},
       {w.inference_test}},
      {"report", "", "", "", {cmd("report", report)}, report_in, {w.report}, {w.report}, {w.report}},
  };
  for (Stage& st : out) {
    st.kind = st.name;
    st.group = group;
    st.dir = w.dir;
    if (!st.slide_labels.empty()) st.all_wsi = all_wsi(st.kind);
    add_unique(st.inputs, config_paths(cfg, st.kind));
    if (!group.empty()) st.name = group + "/" + st.kind;
  }
  return out;
}

}  // namespace

std::vector<Stage> plan_stages(const PipelineConfig& cfg, const fs::path& workdir) {
  const Workdir w(workdir);
  const int folds = config_folds(cfg);
  Argv split = {"split"};
  for (const FlagSetting& s : cfg.settings.at("split")) split.insert(split.end(), s.tokens.begin(), s.tokens.end());
  split.insert(split.end(), {"--out", w.dir});
  // split lists the slide folder (which slides there are, in which class folders).
  std::vector<std::string> split_in;
  if (const FlagSetting* s = cfg.find("split", "--all-wsi")) split_in.push_back(s->value);
  add_unique(split_in, config_paths(cfg, "split"));
  std::vector<Workdir> runs;  // the folders the stages after split run in
  if (folds == 0) runs.push_back(w);
  for (int k = 0; k < folds; ++k) runs.emplace_back(workdir / ("fold" + std::to_string(k)));
  std::vector<std::string> labels;
  for (const Workdir& r : runs) labels.insert(labels.end(), {r.labels_train, r.labels_val, r.labels_test});
  std::vector<Stage> plan = {{"split", "split", "", w.dir, {split}, split_in, labels, labels, labels}};
  for (size_t k = 0; k < runs.size(); ++k) {
    const std::string group = folds ? "fold" + std::to_string(k) : "";
    const std::vector<Stage> r = run_stages(cfg, runs[k], group, folds ? w.crossval : "");
    plan.insert(plan.end(), r.begin(), r.end());
  }
  if (folds) {
    std::vector<std::string> metrics;
    for (const Workdir& r : runs) metrics.push_back(r.metrics);
    plan.push_back({"crossval", "crossval", "", w.dir, {}, metrics, {w.crossval}, {w.crossval}, {w.crossval}});
  }
  std::string root = workdir.lexically_normal().string();
  while (root.size() > 1 && root.back() == '/') root.pop_back();  // ("demo/" given)
  for (Stage& st : plan) st.root = root;
  // Run order: by kind, then fold (stable).
  std::stable_sort(plan.begin(), plan.end(),
                   [](const Stage& a, const Stage& b) { return stage_index(a.kind, "") < stage_index(b.kind, ""); });
  return plan;
}

void check_config_paths(const PipelineConfig& cfg, int first, int last) {
  for (int i = first; i <= last; ++i) {
    const std::string& name = kStages[(size_t)i];
    const FlagSetting* w = cfg.find(name, "--all-wsi");
    if (!w && (name == "split" || name == "train" || name == "predict" || name == "visualize"))
      throw InputError(cfg.path,
                       "no slide folder: set all_wsi = \"DIR\" in [common] (used by split, train, predict, "
                       "visualize)");
    std::error_code ec;
    if (w && !fs::is_directory(w->value, ec))
      throw InputError(w->where,
                       w->what + ": no such folder: " + w->value + (fs::exists(w->value, ec) ? " (it is a file)" : ""));
    const FlagSetting* pre = cfg.find(name, "--pretrained");
    if (pre && !fs::is_regular_file(pre->value, ec))
      throw InputError(pre->where, pre->what + ": no such file: " + pre->value);
  }
}

std::vector<std::string> stage_inputs(const Stage& st) {
  std::vector<std::string> in = st.inputs;
  if (st.slide_labels.empty()) return in;
  std::set<std::string> files;
  try {
    for (const std::string& csv : st.slide_labels)
      for (const SlideLabel& row : read_labels_csv(csv))
        for (const std::string& f : slide_source_files(resolve_slide_path(st.all_wsi, row, csv))) files.insert(f);
  } catch (const InputError&) {
    add_unique(in, {st.all_wsi});  // the stage will say what is wrong; the folder covers what it reads
    return in;
  }
  add_unique(in, std::vector<std::string>(files.begin(), files.end()));
  return in;
}

std::string first_missing(const std::vector<std::string>& paths) {
  std::error_code ec;
  for (const std::string& p : paths)
    if (!fs::exists(p, ec)) return p;
  return "";
}

std::string stamp_path_key(const std::string& path, const std::string& root) {
  if (root.empty() || path.compare(0, root.size(), root) != 0) return path;
  if (path.size() == root.size()) return "$WORKDIR";
  return path[root.size()] == '/' ? "$WORKDIR" + path.substr(root.size()) : path;
}

json stamp_keyed(const json& fingerprints, const std::string& root) {
  json j = json::object();
  std::set<std::string> keys;
  for (const auto& [path, fp] : fingerprints.items()) {
    std::string key = stamp_path_key(path, root);
    if (keys.insert(key).second) append_member(j, std::move(key), fp);  // (linear-time, keys unique)
    else j[key] = fp;
  }
  return j;
}

json commands_json(const Stage& st) {
  json j = json::array();
  for (const Argv& a : st.commands) {
    json args = json::array();
    for (const std::string& t : fingerprint_argv(a)) args.push_back(stamp_path_key(t, st.root));
    j.push_back(args);
  }
  return j;
}

std::string stale_reason(const Stage& st, const std::optional<json>& stamp, const json& cmds, const json& build,
                         const json& inputs, FileHashCache& cache) {
  if (!stamp) return "no completed run recorded";
  if ((*stamp)["commands"] != cmds) return "settings changed: " + describe_change((*stamp)["commands"], cmds);
  if (!stamp->contains("build") || (*stamp)["build"] != build) {
    const json old_build = stamp->value("build", json::object());
    // The same binary with other convolution algorithms: say that rather than "another binary".
    json same_binary = old_build;
    same_binary["conv_algorithms"] = string_or(build, "conv_algorithms");
    if (old_build.contains("conv_algorithms") && same_binary == build)
      return "the convolution algorithms changed (--conv-algo, DEEPSLIDE_WINOGRAD or the tuning file's choices: " +
             string_or(old_build, "conv_algorithms", "?") + " -> " + string_or(build, "conv_algorithms") + ")";
    return "another deepslide binary completed it (" + string_or(old_build, "git", "unknown") + " " +
           string_or(old_build, "binary_sha256", "?").substr(0, 12) + " -> " + string_or(build, "git") + " " +
           string_or(build, "binary_sha256").substr(0, 12) + ")";
  }
  const json& old_in = (*stamp)["inputs"];
  for (auto it = inputs.begin(); it != inputs.end(); ++it)
    if (!old_in.contains(it.key()) || old_in[it.key()] != it.value()) return "input changed: " + it.key();
  if (old_in.size() != inputs.size()) return "inputs changed";
  if (const std::string miss = first_missing(st.required); !miss.empty()) return "output missing: " + miss;
  const json& old_out = (*stamp)["outputs"];
  for (const std::string& p : st.outputs) {
    const json now = path_fingerprint(p, cache);
    const std::string key = stamp_path_key(p, st.root);
    if (!old_out.contains(key) || old_out[key] != now)
      return (now.contains("missing") ? "output missing: " : "output changed since it was written: ") + p;
  }
  return "";
}

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

}  // namespace ds
