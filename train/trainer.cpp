// The training loop (see trainer.h). Order of writes at the end of an epoch: checkpoint model
// file, checkpoint state file (which carries the log text), then log.csv; a resumed run rewrites
// log.csv from the state it resumes, so the log never holds an epoch the weights do not.
// Unreadable items: see trainer.h (UnreadableTracker below). Under mpirun (data_parallel.h) every
// rank runs this loop on its share of each batch; every decision (skip a batch, stop, the 1% rule)
// is taken from what all ranks report, so they stay in step; only rank 0 writes and reports.
#include "train/trainer.h"

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <regex>
#include <set>
#include <sstream>

#include "base/atomic_file.h"
#include "base/error.h"
#include "base/folder_lock.h"
#include "base/format.h"
#include "base/hash.h"
#include "base/interrupt.h"
#include "base/regular_file.h"
#include "base/threads.h"
#include "dist/comm.h"
#include "train/checkpoint.h"
#include "train/data_parallel.h"
#include "train/loader.h"
#include "train/lr_schedule.h"
#include "train/norm_stats.h"
#include "train/optimizer.h"
#include "train/stain_fit.h"
#include "train/train_step.h"

namespace fs = std::filesystem;

namespace ds {

namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

void check_config_values(const TrainConfig& c) {
  DS_CHECK_INPUT(c.batch_size >= 1, "--batch-size must be at least 1, got " + std::to_string(c.batch_size));
  DS_CHECK_INPUT(c.epochs >= 1, "--epochs must be at least 1, got " + std::to_string(c.epochs));
  DS_CHECK_INPUT(c.max_steps >= 0,
                 "--max-steps must be at least 1 (0 or absent: no limit), got " + std::to_string(c.max_steps));
  DS_CHECK_INPUT(c.lr > 0, "--lr must be positive");
  DS_CHECK_INPUT(c.weight_decay >= 0, "--weight-decay must be >= 0");
  DS_CHECK_INPUT(c.lr_decay > 0 && c.lr_decay <= 1, "--lr-decay must be in (0, 1]");
  DS_CHECK_INPUT(c.save_interval >= 1, "--save-interval must be at least 1");
  DS_CHECK_INPUT(c.checkpoint_minutes >= 0, "--checkpoint-minutes must be >= 0");
  DS_CHECK_INPUT(c.workers >= 1 && c.workers <= 64, "--workers must be in [1, 64]");
  DS_CHECK_INPUT(c.aug.brightness >= 0 && c.aug.contrast >= 0 && c.aug.saturation >= 0,
                 "--color-jitter-brightness/contrast/saturation must be >= 0");
  DS_CHECK_INPUT(c.aug.hue >= 0 && c.aug.hue <= 0.5f, "--color-jitter-hue must be in [0, 0.5]");
  DS_CHECK_INPUT(c.stain_aug.hed.scale >= 0 && c.stain_aug.hed.scale < 1, "--stain-aug-scale must be in [0, 1)");
  DS_CHECK_INPUT(c.stain_aug.hed.shift >= 0 && c.stain_aug.hed.shift <= 1, "--stain-aug-shift must be in [0, 1]");
  DS_CHECK_INPUT(c.stain_aug.vectors >= 0 && c.stain_aug.vectors < 1, "--stain-aug-vectors must be in [0, 1)");
  DS_CHECK_INPUT(c.stain_ref.empty() || c.stain_norm != StainMethod::none,
                 "--stain-ref needs --stain-norm reinhard|macenko|vahadane");
  DS_CHECK_INPUT(c.stain_fit == StainScope::window || c.stain_norm != StainMethod::none,
                 "--stain-fit slide needs --stain-norm reinhard|macenko|vahadane");
  DS_CHECK_INPUT(c.norm_samples >= 1, "--norm-samples must be at least 1");
  DS_CHECK_INPUT(!c.out.empty(), "--out is required");
}

// Everything that changes the weights a run produces (the fingerprint a resume must match).
std::map<std::string, std::string> fingerprint(const TrainConfig& c, const Dataset& d) {
  std::map<std::string, std::string> m;
  m["--arch"] = arch_name(c.arch);
  m["--patch-size"] = std::to_string(d.patch_size);
  m["--batch-size"] = std::to_string(c.batch_size);
  m["--lr"] = format_number("%.17g", c.lr);
  m["--weight-decay"] = format_number("%.17g", c.weight_decay);
  m["--lr-decay"] = format_number("%.17g", c.lr_decay);
  m["--color-jitter-brightness"] = format_number("%.9g", c.aug.brightness);
  m["--color-jitter-contrast"] = format_number("%.9g", c.aug.contrast);
  m["--color-jitter-saturation"] = format_number("%.9g", c.aug.saturation);
  m["--color-jitter-hue"] = format_number("%.9g", c.aug.hue);
  m["--flips"] = c.aug.flips ? "on" : "off";
  m["--rot90"] = c.aug.rot90 ? "on" : "off";
  m["--seed"] = std::to_string(c.seed);
  if (c.sync_bn) m["--sync-bn"] = "on";
  // (the stain keys are absent when off: checkpoints from before the flags resume)
  if (c.stain_norm != StainMethod::none) {
    m["--stain-norm"] = stain_method_name(c.stain_norm);
    m["--stain-ref"] = c.stain_ref.empty() ? "training windows" : fs::absolute(c.stain_ref).string();
    if (c.stain_fit == StainScope::slide) m["--stain-fit"] = "slide";  // (absent: window, as before the flag)
  }
  // (absent when off: checkpoints from before the flag resume; HED jitter alone is "on", as it
  // was recorded before the choice existed)
  const StainAug sa = c.stain_aug.kind;
  if (sa != StainAug::none) m["--stain-aug"] = sa == StainAug::hed ? "on" : stain_aug_name(sa);
  if (sa == StainAug::hed || sa == StainAug::both) {
    m["--stain-aug-scale"] = format_number("%.9g", c.stain_aug.hed.scale);
    m["--stain-aug-shift"] = format_number("%.9g", c.stain_aug.hed.shift);
  }
  if (sa == StainAug::matrix || sa == StainAug::both)
    m["--stain-aug-vectors"] = format_number("%.9g", c.stain_aug.vectors);
  m["--pretrained"] = c.pretrained.empty() ? "none" : fs::absolute(c.pretrained).string();
  m["data"] = d.source;
  std::string classes;
  for (const std::string& s : d.classes) classes += (classes.empty() ? "" : ",") + s;
  m["classes"] = classes;
  return m;
}

// A fresh model, or the --pretrained one adapted to our classes and normalization.
Model initial_model(const TrainConfig& c, const Dataset& d, const NormStats& ns, const StainReference& stain) {
  Model fresh = make_model(c.arch, d.classes, c.seed, d.patch_size, ns.mean, ns.std);
  fresh.stain = stain;
  if (c.pretrained.empty()) return fresh;
  Model pre = load_model(c.pretrained);
  if (pre.net->arch() != c.arch)
    throw InputError(c.pretrained, "is a " + arch_name(pre.net->arch()) + " model, --arch is " + arch_name(c.arch));
  const bool same_head = pre.net->num_classes() == fresh.net->num_classes();
  const ParamSet& from = pre.net->params();
  const ParamSet& to = fresh.net->params();
  for (size_t i = 0; i < to.params.size(); ++i) {
    const bool head = to.params[i]->name.rfind("fc.", 0) == 0;
    if (!head || same_head) to.params[i]->value.copy_from(from.params[i]->value);
  }
  for (size_t i = 0; i < to.buffers.size(); ++i) to.buffers[i]->value.copy_from(from.buffers[i]->value);
  return fresh;
}

bool is_mid_checkpoint(const std::string& name) {
  static const std::regex re(R"(.*_e\d+_b\d+(\.state)?\.safetensors)");
  return std::regex_match(name, re);
}

// Removes mid-epoch checkpoints other than `keep` (they are superseded by a newer checkpoint).
void remove_old_mid_checkpoints(const std::string& dir, const std::string& keep) {
  const std::string keep_state = state_path_for(keep);
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string p = e.path().string();
    if (p == keep || p == keep_state || !is_mid_checkpoint(e.path().filename().string())) continue;
    std::error_code ec;
    fs::remove(e.path(), ec);
  }
}

std::string one_line(std::string s) {
  for (char& c : s)
    if (c == '\t' || c == '\n' || c == '\r') c = ' ';
  return s;
}

// Unreadable items of this run (see trainer.h): each recorded once in the state, listed as found,
// checked against the 1% rule.
class UnreadableTracker {
 public:
  UnreadableTracker(const Dataset& data, std::vector<UnreadableItem>& found,
                    std::function<void(const std::string&)> say)
      : data_(data), found_(found), say_(std::move(say)) {
    for (const UnreadableItem& u : found_) seen_.insert(u.file + "\t" + u.where);
  }

  void add(const Sample& s, const std::string& error) {
    UnreadableItem u{one_line(data_.file_of(s)), one_line(data_.where_in_file(s)), one_line(error)};
    if (!seen_.insert(u.file + "\t" + u.where).second) return;
    const std::string prefix = u.file + ": ";  // the error usually starts with the file
    if (u.reason.compare(0, prefix.size(), prefix) == 0) u.reason.erase(0, prefix.size());
    found_.push_back(u);
    say_("skipped unreadable " + std::string(data_.slides_mode() ? "window " : "image ") + u.describe() + ": " +
         u.reason);
  }

  // InputError naming the files and the count when more than 1% of the items are unreadable.
  void check() const {
    const int64_t bad = data_.unreadable_at_load + (int64_t)found_.size();
    if (found_.empty() || bad * 100 <= data_.items) return;  // (an excess at load was refused there)
    std::string msg = std::to_string(bad) + " of " + std::to_string(data_.items);
    if (data_.slides_mode()) {
      std::vector<std::pair<std::string, int64_t>> per_file;  // in the order first found
      for (const UnreadableItem& u : found_) {
        auto it = std::find_if(per_file.begin(), per_file.end(), [&](const auto& p) { return p.first == u.file; });
        if (it == per_file.end()) per_file.push_back({u.file, 1});
        else it->second++;
      }
      msg += " windows could not be read (more than 1%):";
      const size_t shown = std::min<size_t>(per_file.size(), 5);
      for (size_t i = 0; i < shown; ++i)
        msg += std::string(i ? "," : "") + " " + std::to_string(per_file[i].second) + " in " + per_file[i].first;
      if (per_file.size() > shown) msg += " and " + std::to_string(per_file.size() - shown) + " more slides";
    } else {
      msg += " images are unreadable or not " + std::to_string(data_.patch_size) + "x" +
             std::to_string(data_.patch_size) + " (more than 1%; " + std::to_string(data_.unreadable_at_load) +
             " found before training, " + std::to_string(found_.size()) + " while training)";
    }
    throw InputError(msg + "; first: " + found_.front().describe() + ": " + found_.front().reason);
  }

 private:
  const Dataset& data_;
  std::vector<UnreadableItem>& found_;
  std::function<void(const std::string&)> say_;
  std::set<std::string> seen_;
};

using Say = std::function<void(const std::string&)>;

// The model and training state a run starts from.
struct Start {
  Model model;
  TrainState st;
  std::vector<SlideStain> slide_stains;  // --stain-fit slide: each slide's own (train/stain_fit.h)
};

// --stain-fit slide: every slide's stain fitted on its thumbnail, once per run (said, with its time).
std::vector<SlideStain> slide_stains(const TrainConfig& cfg, const Dataset& data, const StainReference& ref,
                                     const Say& say) {
  const auto t0 = Clock::now();
  std::vector<SlideStain> out = fit_dataset_slide_stains(data, ref, cfg.threads);
  if (out.empty()) return out;
  const auto fitted =
      std::count_if(out.begin(), out.end(), [&](const SlideStain& s) { return s.method == ref.method; });
  say("stain fitted per slide on " + std::to_string(fitted) + " of " + std::to_string(out.size()) +
      " slides' tissue thumbnails (the others, with too little tissue, per window; " +
      format_number("%.1f", since(t0)) + " s)");
  return out;
}

// Resuming: the checkpoint's model and state, once its settings are checked against this run's.
Start resume_from_checkpoint(const TrainConfig& cfg, const Dataset& data, const std::string& ckdir,
                             const std::map<std::string, std::string>& config, const std::string& layout_now,
                             const Say& say) {
  const std::string path = cfg.resume_from.empty() ? latest_checkpoint(ckdir) : cfg.resume_from;
  if (path.empty()) throw InputError(ckdir, "no complete checkpoint to resume from");
  Checkpoint c = read_checkpoint(path);
  std::map<std::string, std::string> saved = c.state.config;
  const std::string layout_then = (saved.count("threads") ? saved["threads"] : "?") + " threads x " +
                                  (saved.count("ranks") ? saved["ranks"] : "1") + " ranks";
  saved.erase("threads");
  saved.erase("ranks");
  check_config(state_path_for(path), saved, config);
  // The stain keys are recorded only when on (older checkpoints lack them): one the checkpoint
  // has and this run lacks is a setting turned off, not an older checkpoint.
  for (const char* k : {"--stain-norm", "--stain-aug", "--stain-fit"})
    if (saved.count(k) && !config.count(k))
      throw InputError(state_path_for(path), std::string("checkpoint was written with ") + k + " = " + saved[k] +
                                                 ", this run has it off; resume with the same settings or start a "
                                                 "new --out folder");
  if (c.model.classes != data.classes || c.model.patch_size != data.patch_size || c.model.net->arch() != cfg.arch)
    throw InputError(path, "model classes, patch size or arch differ from this run");
  if (layout_then != layout_now)
    say("note: checkpoint was trained with " + layout_then + ", this run uses " + layout_now +
        "; the result will not be bit-identical to an uninterrupted run");
  // More epochs done than this run asks for: the best model would be chosen among epochs this run
  // would never have trained, so it is not this run's result.
  const int64_t needed = c.state.epochs_done + (c.state.batch > 0 ? 1 : 0);  // epochs the checkpoint is into
  if (needed > cfg.epochs)
    throw InputError(path, "is " + std::to_string(c.state.epochs_done) + " epochs" +
                               (c.state.batch > 0 ? " and " + std::to_string(c.state.batch) + " batches" : "") +
                               " into training, more than --epochs " + std::to_string(cfg.epochs) +
                               " allows; resume with --epochs " + std::to_string(needed) +
                               " or more, or start a new --out folder");
  Start s{std::move(c.model), std::move(c.state), {}};
  s.slide_stains = slide_stains(cfg, data, s.model.stain, say);
  say("resuming from " + path + " (" + std::to_string(s.st.epochs_done) + " epochs done, " +
      std::to_string(s.st.batch) + " batches into the next)");
  return s;
}

// Starting over in an OUT without checkpoints: the normalization statistics of a sample of
// training patches, then a fresh (or --pretrained) model that normalizes with them.
Start fresh_start(const TrainConfig& cfg, const Dataset& data, const std::string& ckdir, const Say& say) {
  const std::string existing = latest_checkpoint(ckdir);
  if (!existing.empty())
    throw InputError(cfg.out, "already holds checkpoints (" + existing + "); use --resume or another --out");
  const auto t0 = Clock::now();
  Start s;
  // The slides' own fits first (they need only the method and scope): the reference is then
  // fitted on windows white-balanced by their slides' glass, as training will see them.
  StainReference scope;
  scope.method = cfg.stain_norm;
  scope.fit = cfg.stain_fit;
  s.slide_stains = slide_stains(cfg, data, scope, say);
  StainFit stain = fit_training_stain(data, cfg.stain_norm, cfg.stain_ref, cfg.threads, s.slide_stains);
  stain.ref.fit = cfg.stain_fit;
  if (cfg.stain_norm != StainMethod::none)
    say("stain normalisation fitted on " +
        (cfg.stain_ref.empty() ? std::to_string(stain.windows) + " training windows" : cfg.stain_ref) + ": " +
        describe_stain_reference(stain.ref));
  const NormStats ns = compute_norm_stats(data, cfg.norm_samples, cfg.threads, stain.ref, s.slide_stains);
  {
    UnreadableTracker bad(data, s.st.unreadable, say);
    for (const auto& [i, error] : stain.failed) bad.add(data.train[(size_t)i], error);
    for (const auto& [i, error] : ns.failed) bad.add(data.train[(size_t)i], error);
    bad.check();
    if (ns.patches == 0)
      throw InputError("none of the " + std::to_string(ns.failed.size()) +
                       " training patches sampled for the normalization can be read (try another --norm-samples)");
  }
  say("normalization from " + std::to_string(ns.patches) + " training patches: mean " +
      format_number("%.4f", ns.mean[0]) + " " + format_number("%.4f", ns.mean[1]) + " " +
      format_number("%.4f", ns.mean[2]) + ", std " + format_number("%.4f", ns.std[0]) + " " +
      format_number("%.4f", ns.std[1]) + " " + format_number("%.4f", ns.std[2]) + " (" +
      format_number("%.1f", since(t0)) + " s)");
  s.model = initial_model(cfg, data, ns, stain.ref);
  s.st.log_csv = std::string(kLogHeader) + "\n";
  return s;
}

AdamOptions adam_options(const TrainConfig& cfg) {
  AdamOptions ao;
  ao.lr = cfg.lr;
  ao.weight_decay = cfg.weight_decay;
  return ao;
}

LoaderOptions train_loader_options(const TrainConfig& cfg, const Model& model, const DataParallel& dp,
                                   const std::vector<SlideStain>& slide_stains) {
  LoaderOptions lo;
  lo.rank = dp.rank();
  lo.ranks = dp.ranks();
  lo.min_share = dp.min_share();
  lo.batch_size = cfg.batch_size;
  lo.workers = cfg.workers;
  lo.queue_batches = std::max(4, 2 * cfg.workers);
  lo.aug = cfg.aug;
  lo.stain = model.stain;
  lo.slide_stains = slide_stains;
  lo.stain_aug = cfg.stain_aug;
  lo.mean = model.mean;
  lo.std = model.std;
  lo.seed = cfg.seed;
  return lo;
}

// Validation batches: not augmented, and a last batch of one is kept.
LoaderOptions validation_loader_options(const LoaderOptions& train) {
  LoaderOptions vo = train;
  vo.augment = false;
  vo.drop_singleton = false;
  vo.min_share = 1;  // evaluation mode: no batch statistics
  return vo;
}

int argmax_row(const float* row, int64_t k) { return (int)(std::max_element(row, row + k) - row); }

// The epoch in progress: its loader, its progress as reported, and its clock (a resumed epoch
// keeps the seconds spent on it before the checkpoint).
struct Epoch {
  Epoch(const Dataset& data, const LoaderOptions& lo, int64_t e, int64_t epochs, const TrainState& st)
      : loader(data, data.train, lo, e, st.batch), seconds_before(st.epoch_seconds) {
    progress.epoch = e;
    progress.epochs = epochs;
    progress.batches = loader.num_batches();
    progress.batch = progress.first_batch = st.batch;
  }
  double seconds() const { return seconds_before + since(start); }
  double comm_seconds() const { return dist::comm_seconds() - comm_before; }  // in the ranks' sums

  Loader loader;
  double seconds_before;
  Clock::time_point start = Clock::now();
  double comm_before = dist::comm_seconds();
  StepProgress progress;
};

// A run from its start to the last epoch, or to max_steps: the optimizer and LR schedule, the
// loaders, the running state, checkpoints and log.csv.
class Training {
 public:
  Training(const TrainConfig& cfg, const Dataset& data, const TrainEvents& ev, DataParallel& dp, Start start);
  TrainSummary run();

 private:
  void say(const std::string& s) const {
    if (ev_.message) ev_.message(s);
  }
  // Epoch e's training batches; false when max_steps stopped the run.
  bool train_batches(Epoch& ep);
  void step(const Batch& b, int64_t job_readable, Epoch& ep);
  // Every rank's failures of a batch, recorded and checked against the 1% rule alike on all ranks.
  JobBatch gather(const Batch& b, const std::vector<Sample>& samples);
  // After a step: the mid-epoch checkpoint when one is due (every checkpoint_minutes, and at
  // max_steps); true when max_steps is reached.
  bool checkpoint_mid_epoch(Epoch& ep);
  void validate(int64_t e, EpochReport& r);
  // log.csv's row, the state of a finished epoch, the end-of-epoch checkpoint every
  // save_interval epochs (and after the last one), the epoch event.
  void end_epoch(int64_t e, EpochReport& r);
  // Whether epoch e's end writes a checkpoint: every save_interval epochs, and the last.
  bool end_saves(int64_t e) const { return e % cfg_.save_interval == 0 || e == cfg_.epochs; }
  void save_checkpoint(const std::string& path);
  void add_time(double step_seconds, double wait_seconds, double comm_seconds, int64_t images);
  TrainSummary summary() const;
  // OUT/best.safetensors: a copy of the best end-of-epoch checkpoint's model file.
  void copy_best(TrainSummary& sum) const;

  const TrainConfig& cfg_;
  const Dataset& data_;
  const TrainEvents& ev_;
  DataParallel& dp_;
  const bool writer_;  // rank 0: writes log.csv, checkpoints, best.safetensors
  const std::string ckdir_, log_path_;
  Model model_;
  TrainState st_;
  UnreadableTracker unreadable_;
  Adam opt_;
  ExponentialLR sched_;
  const LoaderOptions lo_, vo_;
  const int64_t K_;
  const std::string arch_;
  int64_t steps_ = 0;                  // optimizer steps in this process
  double last_epoch_end_seconds_ = 0;  // the last epoch's time after its batches (StepProgress)
  bool stopped_early_ = false;
  bool stop_after_epoch_ = false;  // max_steps reached with the epoch's last batch
  double total_step_seconds_ = 0, total_wait_ = 0, total_comm_ = 0;
  int64_t total_images_ = 0;
  Clock::time_point last_ckpt_;
};

Training::Training(const TrainConfig& cfg, const Dataset& data, const TrainEvents& ev, DataParallel& dp, Start start)
    : cfg_(cfg),
      data_(data),
      ev_(ev),
      dp_(dp),
      writer_(dp.leader()),
      ckdir_((fs::path(cfg.out) / "checkpoints").string()),
      log_path_((fs::path(cfg.out) / "log.csv").string()),
      model_(std::move(start.model)),
      st_(std::move(start.st)),
      unreadable_(data, st_.unreadable, [this](const std::string& s) { say(s); }),
      opt_(model_.net->params(), adam_options(cfg)),
      sched_(opt_, cfg.lr_decay),
      lo_(train_loader_options(cfg, model_, dp, start.slide_stains)),
      vo_(validation_loader_options(lo_)),
      K_((int64_t)data.classes.size()),
      arch_(arch_name(cfg.arch)) {
  model_.trained_at = data.read_at;  // (what predict and calibrate read at by default)
  if (cfg.resume && !st_.unreadable.empty()) {
    say(std::to_string(st_.unreadable.size()) + " unreadable " + (data.slides_mode() ? "window(s)" : "image(s)") +
        " found before the checkpoint (listed at the end)");
    unreadable_.check();
  }
  if (writer_) {
    // Temporary files of atomic writes interrupted by a kill.
    remove_dead_temporaries(ckdir_);
    remove_dead_temporaries(cfg.out);
    write_text_atomic(log_path_, st_.log_csv);
  }
  if (cfg.resume) {
    opt_.load_state(st_.optimizer);
    sched_.set_epoch(st_.sched_epoch);
  }
}

TrainSummary Training::run() {
  last_ckpt_ = Clock::now();
  for (int64_t e = st_.epochs_done + 1; e <= cfg_.epochs; ++e) {
    Epoch ep(data_, lo_, e, cfg_.epochs, st_);
    ep.progress.epoch_end_seconds = last_epoch_end_seconds_;
    ep.progress.steps_left = cfg_.max_steps > 0 ? std::max<int64_t>(0, cfg_.max_steps - steps_) : -1;
    EpochReport r;
    r.lr = opt_.lr();
    if (!train_batches(ep)) return summary();
    const double train_seconds = since(ep.start);
    add_time(train_seconds, ep.loader.wait_seconds(), ep.comm_seconds(), ep.progress.images);
    r.epoch = e;
    r.train_loss = st_.seen ? st_.loss_sum / (double)st_.seen : 0;
    r.train_acc = st_.seen ? (double)st_.correct / (double)st_.seen : 0;
    r.wait_share = train_seconds > 0 ? ep.loader.wait_seconds() / train_seconds : 0;
    r.images_per_second = train_seconds > 0 ? (double)ep.progress.images / train_seconds : 0;
    validate(e, r);
    r.seconds = ep.seconds();
    sched_.step();
    end_epoch(e, r);
    last_epoch_end_seconds_ = since(ep.start) - train_seconds;  // validation, checkpoint, log
    if (stop_after_epoch_) {
      stopped_early_ = e < cfg_.epochs;
      break;
    }
  }
  TrainSummary sum = summary();
  copy_best(sum);
  return sum;
}

bool Training::train_batches(Epoch& ep) {
  StepProgress& p = ep.progress;
  Batch b;
  while (ep.loader.next(b)) {
    const JobBatch jb = gather(b, data_.train);
    // Unreadable samples left none, or one where there were more (on a rank, with per-rank
    // BatchNorm): no step (see trainer.h). With --sync-bn every rank needs a sample.
    const bool too_few = jb.readable < 2 && !(jb.readable == 1 && jb.failed.empty());
    const bool rank_short = dp_.sync_bn() ? jb.any_rank_without_samples : jb.any_rank_lost_all_but_one;
    if (too_few || rank_short) {
      say("epoch " + std::to_string(p.epoch) + " batch " + std::to_string(st_.batch + 1) + ": " +
          std::to_string(jb.readable) + " readable sample(s) left" +
          (too_few         ? ""
           : dp_.sync_bn() ? ", a rank has none"
                           : ", one on a rank") +
          ", no step");
      st_.batch++;
      p.batch = st_.batch;
      if (ev_.progress) ev_.progress(p);
      continue;
    }
    step(b, jb.readable, ep);
    if (checkpoint_mid_epoch(ep)) {
      add_time(since(ep.start), ep.loader.wait_seconds(), ep.comm_seconds(), p.images);
      stopped_early_ = true;
      return false;
    }
  }
  return true;
}

JobBatch Training::gather(const Batch& b, const std::vector<Sample>& samples) {
  JobBatch jb = dp_.gather(b);
  for (const SampleFailure& f : jb.failed) unreadable_.add(samples[(size_t)f.sample], f.reason);
  unreadable_.check();
  return jb;
}

void Training::step(const Batch& b, int64_t job_readable, Epoch& ep) {
  const int64_t mine = (int64_t)b.labels.size();
  const StepSync sync = dp_.step_sync(model_.net->params(), (double)mine / (double)job_readable);
  const StepResult sr = train_step(*model_.net, opt_, b.x, b.labels, sync);
  double sums[2] = {(double)sr.loss * (double)mine, 0};  // loss sum, correct (every rank's)
  for (int64_t i = 0; i < mine; ++i)
    if (argmax_row(sr.logits.data() + i * K_, K_) == b.labels[(size_t)i]) sums[1]++;
  dp_.sum(sums, 2);
  const int64_t n = job_readable;
  st_.correct += (int64_t)sums[1];
  st_.loss_sum += sums[0];
  st_.seen += n;
  st_.batch++;
  steps_++;
  StepProgress& p = ep.progress;
  p.batch = st_.batch;
  if (p.steps_left > 0) p.steps_left--;
  p.images += n;
  p.seconds = since(ep.start);
  p.wait_seconds = ep.loader.wait_seconds();
  p.loss = st_.loss_sum / (double)st_.seen;
  p.acc = (double)st_.correct / (double)st_.seen;
  if (ev_.progress) ev_.progress(p);
}

bool Training::checkpoint_mid_epoch(Epoch& ep) {
  // max_steps reached with the last batch of an epoch whose end writes a checkpoint (every
  // save_interval epochs): the epoch is whole, so it ends as every epoch does (validation,
  // log.csv's row, its checkpoint) and the run stops after it. Otherwise the steps done are kept
  // in a mid-epoch checkpoint, as anywhere else in an epoch.
  const int64_t e = ep.progress.epoch;
  const bool limit = cfg_.max_steps > 0 && steps_ >= cfg_.max_steps;
  if (limit && st_.batch >= ep.progress.batches && end_saves(e)) stop_after_epoch_ = true;
  const bool stop = limit && !stop_after_epoch_;
  const bool due = cfg_.checkpoint_minutes > 0 && st_.batch < ep.progress.batches &&
                   since(last_ckpt_) >= cfg_.checkpoint_minutes * 60;
  // A stop request (Ctrl-C, SIGTERM): the steps done are kept in a checkpoint and the run ends;
  // --resume continues from it. Under mpirun the ranks agree on the step (one may see the signal a
  // step after another).
  int64_t asked = stop_signal();
  if (dist::size() > 1) dist::sum(&asked, 1);
  const std::string path = (fs::path(ckdir_) / (arch_ + "_e" + std::to_string(ep.progress.epoch) + "_b" +
                                                std::to_string(st_.batch) + ".safetensors"))
                               .string();
  if (writer_ && (stop || due || asked)) {
    st_.epoch_seconds = ep.seconds();
    save_checkpoint(path);
  }
  if (asked)
    throw Interrupted(stop_signal() ? stop_signal() : SIGTERM, "stopped in epoch " + std::to_string(ep.progress.epoch) +
                                                                   " after batch " + std::to_string(st_.batch) +
                                                                   "; its state is in " + path +
                                                                   "; rerun with --resume to continue from it");
  return stop;
}

void Training::validate(int64_t e, EpochReport& r) {
  // Sharded like the training batches; the counts and the loss are summed over the ranks.
  dp_.broadcast_buffers(model_.net->params());
  std::vector<std::vector<int64_t>> counts((size_t)K_, std::vector<int64_t>((size_t)K_, 0));
  double val_loss = 0;
  int64_t val_seen = 0, val_correct = 0;
  Loader vl(data_, data_.val, vo_, e, 0);
  Batch b;
  while (vl.next(b)) {
    gather(b, data_.val);
    if (b.labels.empty()) continue;
    Context ctx{nullptr, false};
    VarPtr logits = model_.net->forward(ctx, make_var(b.x));
    VarPtr loss = softmax_cross_entropy(ctx, logits, b.labels);
    const int64_t n = (int64_t)b.labels.size();
    for (int64_t i = 0; i < n; ++i) {
      const int pred = argmax_row(logits->value.data() + i * K_, K_);
      counts[(size_t)b.labels[(size_t)i]][(size_t)pred]++;
      if (pred == b.labels[(size_t)i]) val_correct++;
    }
    val_loss += (double)loss->value[0] * (double)n;
    val_seen += n;
  }
  std::vector<int64_t> job((size_t)(K_ * K_ + 2));
  for (int64_t i = 0; i < K_; ++i)
    for (int64_t j = 0; j < K_; ++j) job[(size_t)(i * K_ + j)] = counts[(size_t)i][(size_t)j];
  job[(size_t)(K_ * K_)] = val_seen;
  job[(size_t)(K_ * K_ + 1)] = val_correct;
  dp_.sum(job.data(), (int64_t)job.size());
  dp_.sum(&val_loss, 1);
  for (int64_t i = 0; i < K_; ++i)
    for (int64_t j = 0; j < K_; ++j) counts[(size_t)i][(size_t)j] = job[(size_t)(i * K_ + j)];
  val_seen = job[(size_t)(K_ * K_)];
  val_correct = job[(size_t)(K_ * K_ + 1)];
  r.val_loss = val_seen ? val_loss / (double)val_seen : 0;
  r.val_acc = val_seen ? (double)val_correct / (double)val_seen : 0;
  r.confusion.assign((size_t)K_, std::vector<double>((size_t)K_, 0));
  for (int64_t i = 0; i < K_; ++i) {
    int64_t row = 0;
    for (int64_t j = 0; j < K_; ++j) row += counts[(size_t)i][(size_t)j];
    for (int64_t j = 0; j < K_; ++j)
      r.confusion[(size_t)i][(size_t)j] = row ? (double)counts[(size_t)i][(size_t)j] / (double)row : 0;
  }
}

void Training::end_epoch(int64_t e, EpochReport& r) {
  std::ostringstream row;
  row << e << "," << format_number("%.6f", r.train_loss) << "," << format_number("%.6f", r.train_acc) << ","
      << format_number("%.6f", r.val_loss) << "," << format_number("%.6f", r.val_acc) << ","
      << format_number("%.8g", r.lr) << "," << format_number("%.2f", r.seconds) << "\n";
  st_.log_csv += row.str();
  st_.epochs_done = e;
  st_.batch = 0;
  st_.sched_epoch = sched_.epoch();
  st_.loss_sum = 0;
  st_.correct = st_.seen = 0;
  st_.epoch_seconds = 0;
  if (end_saves(e)) {
    const std::string path = (fs::path(ckdir_) / (arch_ + "_e" + std::to_string(e) + "_va" +
                                                  format_number("%.4f", r.val_acc) + ".safetensors"))
                                 .string();
    if (r.val_acc > st_.best_val_acc) {
      st_.best_val_acc = r.val_acc;
      st_.best_epoch = e;
      st_.best_path = fs::path(path).filename().string();  // relative to OUT/checkpoints
    }
    if (writer_) save_checkpoint(path);
    r.checkpoint = path;
  }
  if (writer_) write_text_atomic(log_path_, st_.log_csv);
  if (ev_.epoch) ev_.epoch(r);
}

void Training::save_checkpoint(const std::string& path) {
  st_.optimizer = opt_.state();
  write_checkpoint(path, model_, st_);
  remove_old_mid_checkpoints(ckdir_, path);
  last_ckpt_ = Clock::now();
}

void Training::add_time(double step_seconds, double wait_seconds, double comm_seconds, int64_t images) {
  total_step_seconds_ += step_seconds;
  total_wait_ += wait_seconds;
  total_comm_ += comm_seconds;
  total_images_ += images;
}

TrainSummary Training::summary() const {
  TrainSummary sum;
  sum.steps = steps_;
  sum.stopped_early = stopped_early_;
  sum.wait_share = total_step_seconds_ > 0 ? total_wait_ / total_step_seconds_ : 0;
  sum.images_per_second = total_step_seconds_ > 0 ? (double)total_images_ / total_step_seconds_ : 0;
  sum.comm_share = total_step_seconds_ > 0 ? total_comm_ / total_step_seconds_ : 0;
  sum.ranks = dp_.ranks();
  sum.unreadable = st_.unreadable;
  return sum;
}

void Training::copy_best(TrainSummary& sum) const {
  if (st_.best_path.empty() || !writer_) return;
  const std::string src = (fs::path(ckdir_) / st_.best_path).string();
  std::ifstream f(src, std::ios::binary);
  if (!f) throw InputError(src, "best checkpoint is missing");
  const std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  sum.best_path = (fs::path(cfg_.out) / "best.safetensors").string();
  write_file_atomic(sum.best_path, bytes.data(), bytes.size());
  sum.best_source = src;
  sum.best_epoch = st_.best_epoch;
  sum.best_val_acc = st_.best_val_acc;
}

// What must be the same on every rank of a job: the run's settings, its data, the checkpoint it
// resumes and the model it starts from (its normalization).
std::string run_description(const TrainConfig& cfg, const Dataset& data,
                            const std::map<std::string, std::string>& config, const Start& start) {
  std::ostringstream d;
  for (const auto& [k, v] : config) d << k << "=" << v << "\n";
  d << "epochs=" << cfg.epochs << " max_steps=" << cfg.max_steps << " resume=" << cfg.resume << " " << cfg.resume_from
    << " save_interval=" << cfg.save_interval << " norm_samples=" << cfg.norm_samples
    << " grad_bucket_mb=" << format_number("%a", cfg.grad_bucket_mb) << "\n";
  d << "done=" << start.st.epochs_done << "/" << start.st.batch << "\n";
  for (int i = 0; i < 3; ++i)
    d << format_number("%a", start.model.mean[i]) << format_number(" %a ", start.model.std[i]);
  for (const auto* set : {&data.train, &data.val}) {
    uint64_t h = kFnvOffset;
    for (const Sample& s : *set) {
      const int64_t v[5] = {s.label, s.file, s.slide, s.window.x, s.window.y};
      h = fnv1a(v, sizeof v, h);
    }
    d << "\n" << set->size() << " " << h;
  }
  for (const std::string& f : data.files) d << "\n" << f;
  for (const std::string& f : data.slide_paths) d << "\n" << f;
  return d.str();
}

}  // namespace

TrainSummary train_model(const TrainConfig& cfg, const Dataset& data, const TrainEvents& rank_ev) {
  check_config_values(cfg);
  DS_CHECK_INPUT(cfg.stain_fit == StainScope::window || data.slides_mode(),
                 "--stain-fit slide needs slides mode (--all-wsi with label CSVs): a patch folder has no slides");
  DataParallel dp(cfg.sync_bn, cfg.grad_bucket_mb);
  const TrainEvents none;
  const TrainEvents& ev = dp.leader() ? rank_ev : none;
  const Say say = [&](const std::string& s) {
    if (ev.message) ev.message(s);
  };
  const std::string ckdir = (fs::path(cfg.out) / "checkpoints").string();
  std::error_code ec;
  fs::create_directories(ckdir, ec);
  if (ec) throw InputError(ckdir, "cannot create folder: " + ec.message());
  const std::map<std::string, std::string> config = fingerprint(cfg, data);
  const std::string threads_now = std::to_string(num_threads()), ranks_now = std::to_string(dp.ranks());
  Start start = cfg.resume ? resume_from_checkpoint(cfg, data, ckdir, config,
                                                    threads_now + " threads x " + ranks_now + " ranks", say)
                           : fresh_start(cfg, data, ckdir, say);
  dp.check_same_run(run_description(cfg, data, config, start));
  dp.broadcast_model(start.model.net->params());
  start.st.config = config;
  start.st.config["threads"] = threads_now;
  if (dp.ranks() > 1) start.st.config["ranks"] = ranks_now;  // (absent: one process)
  if (dp.ranks() > 1)
    say("data parallel: " + ranks_now + " ranks x " + threads_now + " threads, batch " +
        std::to_string(cfg.batch_size) + " split across them, BatchNorm " +
        (cfg.sync_bn ? "synchronized (--sync-bn)" : "per rank") + ", gradients summed " +
        (cfg.grad_bucket_mb > 0 ? "in buckets of " + format_number("%g", cfg.grad_bucket_mb) + " MB during backward"
                                : "after backward (--grad-bucket-mb 0)"));
  return Training(cfg, data, ev, dp, std::move(start)).run();
}

TrainSummary load_and_train(const TrainConfig& cfg, const DataSource& src, const TrainEvents& ev) {
  // One training run per --out, from before anything is written there (the data event may write
  // --windows-csv into it) until the run returns.
  // The inputs are there (a mistyped path leaves no --out behind); load_dataset reads them.
  if (!src.train_folder.empty()) {
    require_input_folder(src.train_folder);
  } else {
    require_input_folder(src.slides.all_wsi);
    require_input_file(src.slides.labels_train);
    require_input_file(src.slides.labels_val);
    if (!src.slides.annotations.empty()) require_input_folder(src.slides.annotations);
  }
  std::optional<FolderLock> lock;
  if (dist::rank() == 0) {
    std::error_code ec;
    fs::create_directories(cfg.out, ec);
    if (ec) throw InputError(cfg.out, "cannot create folder: " + ec.message());
    lock.emplace((fs::path(cfg.out) / kFolderLockName).string(), cfg.out, "deepslide train");
  }
  const auto t0 = Clock::now();
  const Dataset data = load_dataset(src, cfg.threads);
  if (ev.data && dist::rank() == 0) ev.data(data, since(t0));
  return train_model(cfg, data, ev);
}

}  // namespace ds
