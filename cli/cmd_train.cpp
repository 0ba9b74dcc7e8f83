// deepslide train: DeepSlide's stage 3. Flags, one call to train/trainer.h's load_and_train, and
// what it reports printed: the data (patch counts per class), progress (an updating line on a
// terminal, plain periodic lines otherwise), each epoch's metrics and confusion matrix, and a
// summary (best epoch, best.safetensors, share of step time spent waiting for data). Bad input
// is listed on stderr: images skipped before training (patch folder), and the images or slide
// windows found unreadable while training (as found, and again in a list at the end). Slides that
// failed to open or scan are listed before training; training goes on without them and the
// command exits 2 at the end. Under mpirun only rank 0 prints (train/trainer.h).
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include "base/error.h"
#include "base/interrupt.h"
#include "base/threads.h"
#include "cli/commands.h"
#include "cli/window_flags.h"
#include "dist/comm.h"
#include "train/dataset.h"
#include "train/trainer.h"
#include "train/window_list.h"

namespace ds::cli {

namespace {

struct TrainOpts {
  WindowFlags window;
  std::string all_wsi, labels_train, labels_val, train_folder;
  int64_t num_train_per_class = 80000;
  std::string arch = "resnet18", flips = "on", rot90 = "on";
  std::string stain_norm = "none", stain_aug, stain_fit = "window";
  std::string annotations, windows_csv;
  double annotation_cover = 0.5;
  TrainConfig cfg;
  CLI::Option* resume = nullptr;
  CLI::Option* stain_aug_flag = nullptr;
};

TrainConfig train_config(const TrainOpts& o, const Globals& g) {
  TrainConfig cfg = o.cfg;
  cfg.arch = parse_arch(o.arch);
  cfg.threads = g.threads;
  DS_CHECK_INPUT(o.flips == "on" || o.flips == "off", "--flips must be on or off, got " + o.flips);
  DS_CHECK_INPUT(o.rot90 == "on" || o.rot90 == "off", "--rot90 must be on or off, got " + o.rot90);
  cfg.aug.flips = o.flips == "on";
  cfg.aug.rot90 = o.rot90 == "on";
  cfg.stain_norm = parse_stain_method(o.stain_norm);
  cfg.stain_fit = parse_stain_fit(o.stain_fit);
  if (o.stain_aug_flag->count() > 0)  // a bare --stain-aug is HED jitter (the flag's meaning before the choice)
    cfg.stain_aug.kind = parse_stain_aug(o.stain_aug.empty() ? "hed" : o.stain_aug);
  cfg.resume = o.resume->count() > 0;
  return cfg;
}

DataSource data_source(const TrainOpts& o) {
  DataSource src;
  src.slides.window = o.window.resolve(1.0);
  const bool folder = !o.train_folder.empty();
  const bool slides = !o.all_wsi.empty() || !o.labels_train.empty() || !o.labels_val.empty();
  DS_CHECK_INPUT(folder != slides, "give either --train-folder or --all-wsi with --labels-train and --labels-val");
  DS_CHECK_INPUT(o.num_train_per_class >= 1, "--num-train-per-class must be at least 1");
  DS_CHECK_INPUT(folder || (!o.all_wsi.empty() && !o.labels_train.empty() && !o.labels_val.empty()),
                 "slides mode needs --all-wsi, --labels-train and --labels-val");
  src.train_folder = o.train_folder;
  src.slides.all_wsi = o.all_wsi;
  src.slides.labels_train = o.labels_train;
  src.slides.labels_val = o.labels_val;
  src.slides.num_train_per_class = o.num_train_per_class;
  DS_CHECK_INPUT(o.annotations.empty() || !folder, "--annotations needs slides mode (--all-wsi with label CSVs)");
  // A patch folder's images are taken as they are: a flag that chooses windows would be ignored.
  if (folder)
    for (const char* name : {"--num-train-per-class", "--windows-csv", "--annotation-cover", "--level", "--mpp",
                             "--tissue", "--purple-threshold", "--purple-scale", "--otsu-min-fraction"}) {
      if (o.window.given(name))
        throw InputError(name,
                         "chooses slide windows (slides mode: --all-wsi with label CSVs); --train-folder "
                         "trains on its patches as they are");
    }
  src.slides.annotations = o.annotations;
  src.slides.annotation_cover = o.annotation_cover;
  return src;
}

std::string pad(const std::string& s, size_t w) { return s.size() >= w ? s : std::string(w - s.size(), ' ') + s; }

// The progress line on stderr: on a terminal one line redrawn at most every 0.2 s; otherwise a
// plain line for the first batch and then every 30 s.
class ProgressLine {
 public:
  void start() { last_ = std::chrono::steady_clock::now(); }
  void step(const StepProgress& p) {
    const auto now = std::chrono::steady_clock::now();
    const double dt = std::chrono::duration<double>(now - last_).count();
    if (tty_) {
      if (dt < 0.2 && p.batch != p.batches) {
        last_step_ = p;
        undrawn_ = true;
        return;
      }
      draw(p);
    } else {
      if (dt < 30 && p.batch != 1) return;
      std::cerr << format_progress(p) << "\n";
    }
    last_ = now;
  }
  // Ends the line so that other output goes below it. The last throttled step is drawn first,
  // so the line always ends on the final state (also when --max-steps stops).
  void close() {
    if (undrawn_) draw(last_step_);
    if (open_) std::cerr << "\n";
    open_ = false;
  }

 private:
  void draw(const StepProgress& p) {
    std::cerr << "\r" << format_progress(p) << "\033[K" << std::flush;
    open_ = true;
    undrawn_ = false;
  }
  const bool tty_ = isatty(2);
  std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
  bool open_ = false, undrawn_ = false;
  StepProgress last_step_;
};

void print_data(const Dataset& data, double load_s, bool folder) {
  if (!data.failed.empty()) {
    std::cerr << data.failed.size() << " of " << data.slides_listed << " slide(s) failed and are left out:\n";
    for (const std::string& s : data.failed) std::cerr << "  FAILED: " << s << "\n";
  }
  if (!data.skipped.empty()) {
    std::cerr << "skipped " << data.skipped.size() << (folder ? " image(s):\n" : " slide(s):\n");
    for (const std::string& s : data.skipped) std::cerr << "  " << s << "\n";
  }
  const auto tn = class_counts(data.train, data.classes.size());
  const auto vn = class_counts(data.val, data.classes.size());
  char head[160];
  std::snprintf(head, sizeof head, "data (%s, %.1f s): %zu training, %zu validation patches",
                folder ? "patch folder" : "slides", load_s, data.train.size(), data.val.size());
  std::cerr << head << "\n";
  for (size_t c = 0; c < data.classes.size(); ++c)
    std::cerr << "  " << data.classes[c] << ": " << tn[c] << " train, " << vn[c] << " val\n";
}

void print_confusion(const EpochReport& r, const std::vector<std::string>& classes) {
  size_t w = 6;
  for (const std::string& c : classes) w = std::max(w, c.size());
  std::string head = pad("", w) + "  (rows: true class, columns: predicted; each row sums to 1)";
  std::cerr << head << "\n" << pad("", w);
  for (const std::string& c : classes) std::cerr << "  " << pad(c, w);
  std::cerr << "\n";
  for (size_t i = 0; i < classes.size(); ++i) {
    std::cerr << pad(classes[i], w);
    for (double v : r.confusion[i]) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.3f", v);
      std::cerr << "  " << pad(buf, w);
    }
    std::cerr << "\n";
  }
}

void print_epoch(const EpochReport& r, int64_t epochs, const std::vector<std::string>& classes) {
  char buf[300];
  std::snprintf(buf, sizeof buf,
                "epoch %lld/%lld: train loss %.4f acc %.4f | val loss %.4f acc %.4f | lr %.3g | %.1f s, "
                "%.1f img/s, data wait %.1f%%",
                (long long)r.epoch, (long long)epochs, r.train_loss, r.train_acc, r.val_loss, r.val_acc, r.lr,
                r.seconds, r.images_per_second, 100 * r.wait_share);
  std::cerr << buf << "\n";
  print_confusion(r, classes);
  if (!r.checkpoint.empty()) std::cerr << "checkpoint " << r.checkpoint << "\n";
}

// Under mpirun: the ranks and the share of step time spent summing across them ("" alone).
std::string ranks_line(const TrainSummary& s) {
  if (s.ranks == 1) return "";
  char buf[120];
  std::snprintf(buf, sizeof buf, "; %d ranks, %.1f%% of step time in their sums", s.ranks, 100 * s.comm_share);
  return buf;
}

// The unreadable items found while training (listed like the bad images of a patch folder),
// then where training stopped and the best epoch.
void print_summary(const TrainSummary& s, bool folder, int64_t items) {
  if (!s.unreadable.empty()) {
    const char* what = folder ? "image(s)" : "window(s)";
    std::cerr << "skipped " << s.unreadable.size() << " unreadable " << what << " of " << items << " while training:\n";
    for (const UnreadableItem& u : s.unreadable) std::cerr << "  " << u.describe() << ": " << u.reason << "\n";
  }
  char buf[300];
  if (s.stopped_early && s.best_path.empty()) {
    std::snprintf(buf, sizeof buf, "stopped after %lld steps (--max-steps); %.1f img/s, data wait %.1f%% of step time",
                  (long long)s.steps, s.images_per_second, 100 * s.wait_share);
    std::cout << buf << ranks_line(s) << "\n";
    return;
  }
  if (s.stopped_early) std::cout << "stopped after " << s.steps << " steps (--max-steps), at an epoch's end\n";
  if (!s.best_path.empty()) {
    std::snprintf(buf, sizeof buf, "best: epoch %lld, val acc %.4f -> %s (from %s)", (long long)s.best_epoch,
                  s.best_val_acc, s.best_path.c_str(), s.best_source.c_str());
    std::cout << buf << "\n";
  }
  std::snprintf(buf, sizeof buf, "%lld steps, %.1f img/s, data wait %.1f%% of step time", (long long)s.steps,
                s.images_per_second, 100 * s.wait_share);
  std::cout << buf << ranks_line(s) << "\n";
}

void run_train(const TrainOpts& o, const Globals& g) {
  set_num_threads(g.threads);
  install_stop_handlers();  // Ctrl-C / SIGTERM: a checkpoint of the steps done, then exit 130 / 143
  const TrainConfig cfg = train_config(o, g);
  DataSource src = data_source(o);
  const bool folder = !src.train_folder.empty();
  // The tissue scans of the training and validation slides, before the first step.
  std::optional<Progress> scan_progress(std::in_place, "train data", 0, "windows", ProgressStyle::for_stderr(false));
  src.slides.progress = &*scan_progress;
  ProgressLine progress;
  std::vector<std::string> classes;
  int64_t items = 0;
  TrainEvents ev;
  size_t failed = 0;
  int64_t listed = 0;
  ev.data = [&](const Dataset& data, double seconds) {
    scan_progress.reset();  // ends its line before the data summary
    print_data(data, seconds, folder);
    if (!o.windows_csv.empty()) write_window_list(data, o.windows_csv);
    failed = data.failed.size();
    listed = data.slides_listed;
    classes = data.classes;
    items = data.items;
    progress.start();
  };
  ev.message = [&](const std::string& s) {
    progress.close();
    std::cerr << s << "\n";
  };
  ev.progress = [&](const StepProgress& p) { progress.step(p); };
  ev.epoch = [&](const EpochReport& r) {
    progress.close();
    print_epoch(r, cfg.epochs, classes);
  };
  TrainSummary s;
  try {
    s = load_and_train(cfg, src, ev);
  } catch (...) {
    progress.close();  // the error line goes below the progress line, not onto it
    throw;
  }
  progress.close();
  if (dist::rank() == 0) print_summary(s, folder, items);
  if (failed > 0 && dist::rank() == 0)  // (once: every rank found the same failures)
    throw InputError(src.slides.labels_train, std::to_string(failed) + " of " + std::to_string(listed) +
                                                  " slides failed and were left out of training (listed above)");
}

}  // namespace

void register_train(CLI::App& app, Globals& g) {
  auto o = std::make_shared<TrainOpts>();
  auto* sub = app.add_subcommand("train", "Train a ResNet on slide windows or a patch folder (DeepSlide stage 3)");
  sub->add_option("--all-wsi", o->all_wsi, "Slides mode: folder of slides (label CSV paths are relative to it)");
  sub->add_option("--labels-train", o->labels_train, "Slides mode: training label CSV (img,gt)");
  sub->add_option("--labels-val", o->labels_val, "Slides mode: validation label CSV (img,gt)");
  sub->add_option("--num-train-per-class", o->num_train_per_class, "Slides mode: training windows per class")
      ->capture_default_str();
  sub->add_option(
      "--annotations", o->annotations,
      "Slides mode: folder of <slide stem>.geojson/.json/.xml (QuPath GeoJSON, ASAP or Aperio XML); windows only "
      "inside annotated regions, labelled by the annotation's class");
  sub->add_option("--annotation-cover", o->annotation_cover,
                  "With --annotations: share of a window one class's annotations must cover")
      ->capture_default_str();
  sub->add_option("--windows-csv", o->windows_csv, "Slides mode: write the training and validation windows here");
  sub->add_option("--train-folder", o->train_folder, "Patch folder mode: DIR/train/<class>/..., DIR/val/<class>/...");
  add_window_flags(sub, o->window, "");
  TrainConfig& c = o->cfg;
  sub->add_option("--arch", o->arch, "resnet18|resnet34|resnet50")->capture_default_str();
  sub->add_option("--batch-size", c.batch_size, "Batch size")->capture_default_str();
  sub->add_option("--epochs", c.epochs, "Epochs")->capture_default_str();
  sub->add_option("--lr", c.lr, "Adam learning rate")->capture_default_str();
  sub->add_option("--weight-decay", c.weight_decay, "Adam L2 weight decay")->capture_default_str();
  sub->add_option("--lr-decay", c.lr_decay, "Learning-rate factor per epoch (ExponentialLR)")->capture_default_str();
  sub->add_option("--save-interval", c.save_interval, "Checkpoint every N epochs")->capture_default_str();
  sub->add_option("--checkpoint-minutes", c.checkpoint_minutes, "Mid-epoch checkpoint every M minutes (0: off)")
      ->capture_default_str();
  sub->add_option("--color-jitter-brightness", c.aug.brightness, "ColorJitter brightness")->capture_default_str();
  sub->add_option("--color-jitter-contrast", c.aug.contrast, "ColorJitter contrast")->capture_default_str();
  sub->add_option("--color-jitter-saturation", c.aug.saturation, "ColorJitter saturation")->capture_default_str();
  sub->add_option("--color-jitter-hue", c.aug.hue, "ColorJitter hue")->capture_default_str();
  sub->add_option("--flips", o->flips, "Random horizontal and vertical flips: on|off")->capture_default_str();
  sub->add_option("--rot90", o->rot90, "Random 90-degree rotations: on|off")->capture_default_str();
  sub->add_option("--stain-norm", o->stain_norm,
                  "Stain normalisation of every window (train and, from the model, every later command): "
                  "none|reinhard|macenko|vahadane")
      ->capture_default_str();
  sub->add_option("--stain-ref", c.stain_ref,
                  "Reference image for --stain-norm (default: fitted on 64 training windows)");
  sub->add_option("--stain-fit", o->stain_fit,
                  "Where --stain-norm fits each window's own stain: window (every window alone) or slide (once "
                  "per slide on its tissue thumbnail, then only the transform per window; slides mode only)")
      ->capture_default_str();
  o->stain_aug_flag =
      sub->add_option("--stain-aug", o->stain_aug,
                      "Stain augmentation of training windows: hed (HED jitter, Tellez et al. 2018; the default "
                      "of a bare --stain-aug), matrix (H and E vectors perturbed) or both")
          ->expected(0, 1);
  sub->add_option("--stain-aug-scale", c.stain_aug.hed.scale, "HED jitter: each stain scaled by U(1-s, 1+s)")
      ->capture_default_str();
  sub->add_option("--stain-aug-shift", c.stain_aug.hed.shift,
                  "HED jitter: each stain's optical density shifted by U(-s, s)")
      ->capture_default_str();
  sub->add_option("--stain-aug-vectors", c.stain_aug.vectors,
                  "Stain-matrix perturbation: each H and E vector component times U(1-s, 1+s)")
      ->capture_default_str();
  sub->add_option("--seed", c.seed, "Seed of initialisation, sample order and augmentation")->capture_default_str();
  sub->add_option("--threads", g.threads, "Compute threads (default: all cores)");
  sub->add_option("--workers", c.workers, "Loader threads")->capture_default_str();
  sub->add_option("--out", c.out, "Output folder (log.csv, checkpoints/, best.safetensors)")->required();
  o->resume = sub->add_option("--resume", c.resume_from, "Resume from the latest checkpoint in OUT, or the one named")
                  ->expected(0, 1);
  sub->add_option("--pretrained", c.pretrained, "Start from this model file (classifier re-initialised if needed)");
  sub->add_option("--norm-samples", c.norm_samples, "Training patches the mean/std are computed from")
      ->capture_default_str();
  sub->add_option("--max-steps", c.max_steps, "Stop after N optimizer steps (benchmarks, tests)");
  sub->add_flag("--sync-bn", c.sync_bn,
                "Under mpirun: BatchNorm statistics of the whole batch across the ranks (default: each rank's own)");
  sub->add_option("--grad-bucket-mb", c.grad_bucket_mb,
                  "Under mpirun: gradients summed in buckets of this many MB, each started while backward goes on "
                  "(0: one sum after backward; 10 suggested across machines); the weights do not depend on it")
      ->capture_default_str();
  sub->callback([o, &g] { run_train(*o, g); });
}

}  // namespace ds::cli
