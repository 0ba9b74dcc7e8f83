// The stages of `deepslide run`, in one workdir with DeepSlide's folder names: split -> train ->
// predict (val, test) -> search -> bundle -> visualize -> evaluate -> report. With `[split]
// folds = K` (cross-validation) split writes K folds and each fold runs train .. evaluate and
// report in its own folder, WORKDIR/fold<k>/, with the same names; between evaluate and report
// the crossval stage summarizes the folds' test metrics (WORKDIR/crossval.json, infer/crossval.h),
// which every fold's report shows. For each stage: the command lines it runs (the config's keys
// plus the workdir paths the run sets itself), the paths it reads and writes, and whether its
// stamp (pipeline/stage_stamp.h) says it is complete and current.
#pragma once
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/file_hash_cache.h"
#include "pipeline/pipeline_config.h"

namespace ds {

using Argv = std::vector<std::string>;  // {"train", "--epochs", "4", ...}

// Stage kinds in run order; each but crossval (which the run does itself) is also the name of the
// command it runs. --from and --until name kinds.
extern const std::vector<std::string> kStages;

// One stage of the plan: its command line(s) and the paths that decide whether it is current.
struct Stage {
  std::string name;                   // "train"; "fold0/train" for a fold's (its stamp: .stages/<name>.json)
  std::string kind;                   // its kStages entry: "train"
  std::string group;                  // "" for the run's own stages, "fold<k>" for a fold's
  std::string dir;                    // the folder it writes into: the workdir or the fold's folder
  std::vector<Argv> commands;         // predict has two; crossval none (the run summarizes in-process)
  std::vector<std::string> inputs;    // files and folders it reads
  std::vector<std::string> outputs;   // files and folders it writes (fingerprinted in the stamp)
  std::vector<std::string> required;  // files it must leave behind to count as complete
  std::vector<std::string> clear;     // removed before a fresh (not resumed) run
  // Label CSVs whose rows name slides under all_wsi that it reads: those slides' files are inputs
  // too (stage_inputs), so a slide it never reads does not make it stale.
  std::vector<std::string> slide_labels = {};
  std::string all_wsi = {};
  std::string root = {};  // the run's workdir (absolute): what stamps record paths relative to
};

// The workdir's files and folders, with DeepSlide's names.
struct Workdir {
  explicit Workdir(const std::filesystem::path& absolute);
  std::string dir, labels_train, labels_val, labels_test, model, log, checkpoints, preds_val, preds_test, inference_val,
      inference_test, vis, report, aggregator, metrics,
      bundle,    // bundle.safetensors: the model, the recipe and the aggregator in one file (for diagnose)
      crossval;  // crossval.json: the folds' test metrics and their spread (cross-validation runs)
};

// The number of folds `[split] folds` asks for, 0 without it; InputError naming the line when it
// is not an integer in [3, kMaxFolds].
constexpr int kMaxFolds = 100;
int config_folds(const PipelineConfig& cfg);

// The config's view of each stage: its command's flags (from `flags`, by command name) and the
// flags the run sets itself.
std::vector<StageSpec> stage_specs(const std::map<std::string, CommandFlags>& flags);

// Index of a stage in kStages; InputError naming `flag` for an unknown name.
int stage_index(const std::string& name, const char* flag);

// The stages with their command lines, for the absolute workdir and the parsed config, in run
// order (kinds in kStages order; within a kind, fold 0 first).
std::vector<Stage> plan_stages(const PipelineConfig& cfg, const std::filesystem::path& workdir);

// What decides whether a stage is current, read when it is about to run (the label CSVs are
// written by the stages before it): its inputs, then the files of every slide its label CSVs name
// (slide/reader/slide_identity.h; sorted, each once). A CSV that cannot be read, or names a slide
// that cannot be found or opened, gives the whole slide folder instead.
std::vector<std::string> stage_inputs(const Stage& st);

// Existence checks on the inputs the config names for stages first..last, before anything runs.
void check_config_paths(const PipelineConfig& cfg, int first, int last);

// The first of `paths` that does not exist ("" when all do).
std::string first_missing(const std::vector<std::string>& paths);

// A path as a stamp records it: one under the run's workdir `root` as "$WORKDIR/<relative>", so a
// workdir moved or copied elsewhere keeps its stamps; any other path as given.
std::string stamp_path_key(const std::string& path, const std::string& root);
// A fingerprint object (paths_fingerprint) with its keys as stamp_path_key gives them.
nlohmann::ordered_json stamp_keyed(const nlohmann::ordered_json& fingerprints, const std::string& root);

// The stage's command lines as its stamp records them (paths as stamp_path_key gives them):
// without the flags that change how fast
// a stage runs but not what it produces (--threads, --workers, --readers, --checkpoint-minutes,
// --commit-seconds).
nlohmann::ordered_json commands_json(const Stage& st);

// "" when the stamp says the stage is complete and current, else why it must run: no stamp,
// other settings, another deepslide binary (`build`, pipeline/build_id.h), changed inputs, or
// outputs missing or changed since (fingerprinted through `cache`).
std::string stale_reason(const Stage& st, const std::optional<nlohmann::ordered_json>& stamp,
                         const nlohmann::ordered_json& cmds, const nlohmann::ordered_json& build,
                         const nlohmann::ordered_json& inputs, FileHashCache& cache);

// May train resume from its checkpoints instead of starting over? Same inputs, and the same
// flags except --save-interval, --max-steps and --epochs (which may only grow); `flags` gives
// train's default --epochs.
bool train_resumable(const nlohmann::ordered_json& prev, const nlohmann::ordered_json& cmds,
                     const nlohmann::ordered_json& inputs, const CommandFlags& flags);

}  // namespace ds
