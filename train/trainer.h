// The training loop of `deepslide train` (DeepSlide's stage 3): ResNet + softmax cross-entropy,
// Adam with L2 weight decay, ExponentialLR per epoch, the loader threads, per-epoch validation,
// OUT/log.csv, checkpoints every --save-interval epochs and every --checkpoint-minutes, exact
// resume, and OUT/best.safetensors at the end. Reports through callbacks; prints nothing.
//
// Unreadable items (a slide window on a corrupt tile; a patch image that changed after it was
// checked) are left out by the loader (and by the normalization sample), reported once each
// through events.message as found, kept in the checkpoint state, and returned in the summary.
// The 1% rule is folder mode's: when (data.unreadable_at_load + distinct items found unreadable
// so far) * 100 > data.items, training stops with an InputError naming the files and the count.
// It is checked after the normalization sample and after every batch (training and validation),
// so it fires as soon as more than 1% of the whole set is known to be bad (by the end of the
// first epoch every item has been read once, but for a last training sample dropped as a batch
// of one). Items found are not counted again in later epochs or after a resume. A training batch
// left with no readable sample, or with one where it had more, is not stepped on (train-mode
// batch norm needs two).
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "layers/resnet.h"
#include "stain/stain_aug.h"
#include "stain/stain_norm.h"
#include "train/augment.h"
#include "train/checkpoint.h"
#include "train/dataset.h"
#include "train/grad_buckets.h"
#include "train/progress.h"

namespace ds {

struct TrainConfig {
  Arch arch = Arch::resnet18;
  int batch_size = 16;
  int64_t epochs = 20;
  double lr = 0.001, weight_decay = 1e-4, lr_decay = 0.85;
  int64_t save_interval = 1;
  double checkpoint_minutes = 10;  // mid-epoch checkpoints; 0 disables
  AugmentOptions aug;
  // --stain-norm / --stain-ref (train/stain_fit.h) and --stain-aug with its strengths.
  StainMethod stain_norm = StainMethod::none;
  std::string stain_ref;                      // "" = fitted on the training windows
  StainScope stain_fit = StainScope::window;  // --stain-fit: each window's source side, or each slide's
  StainAugOptions stain_aug;
  uint64_t seed = 0;
  int threads = 0;  // compute threads (recorded; resume is bit-exact only with the same count)
  int workers = 2;  // loader threads
  std::string out;
  bool resume = false;
  std::string resume_from;  // "" with resume: the latest checkpoint in OUT/checkpoints
  std::string pretrained;   // "" = torchvision init from seed
  int64_t norm_samples = 2000;
  int64_t max_steps = 0;  // > 0: stop after this many optimizer steps in this process (tests, bench)
  // Under mpirun (train/data_parallel.h): BatchNorm statistics of the whole batch across the
  // ranks instead of each rank's own.
  bool sync_bn = false;
  // Under mpirun: the gradient sum's bucket size in MB, each bucket summed while backward goes
  // on (train/grad_buckets.h); 0 = one sum after backward. The weights do not depend on it.
  double grad_bucket_mb = kDefaultGradBucketMb;
};

struct EpochReport {
  int64_t epoch = 0;
  double train_loss = 0, train_acc = 0, val_loss = 0, val_acc = 0, lr = 0, seconds = 0;
  double wait_share = 0;  // share of train step time spent waiting for data
  double images_per_second = 0;
  std::vector<std::vector<double>> confusion;  // rows: true class, normalized per row
  std::string checkpoint;                      // written this epoch, or ""
};

struct TrainEvents {
  std::function<void(const Dataset&, double)> data;   // the data loaded, and the seconds it took
  std::function<void(const std::string&)> message;    // one line of information
  std::function<void(const StepProgress&)> progress;  // after every step
  std::function<void(const EpochReport&)> epoch;      // after every epoch
};

struct TrainSummary {
  int64_t best_epoch = 0;
  double best_val_acc = 0;
  std::string best_path;         // OUT/best.safetensors ("" if no epoch completed)
  std::string best_source;       // the checkpoint it was copied from
  double wait_share = 0;         // over this process's training steps
  double images_per_second = 0;  // the whole job's (every rank's images)
  double comm_share = 0;         // share of step time spent in the ranks' gradient and statistics sums
  int ranks = 1;
  int64_t steps = 0;                       // optimizer steps in this process
  bool stopped_early = false;              // max_steps reached
  std::vector<UnreadableItem> unreadable;  // found while training, this run and before a resume
};

// Names of the log.csv columns.
constexpr const char* kLogHeader = "epoch,train_loss,train_acc,val_loss,val_acc,lr,seconds";

// Under mpirun every rank calls it with the same arguments; only rank 0 writes files and fires
// events (the others run with none).
TrainSummary train_model(const TrainConfig& cfg, const Dataset& data, const TrainEvents& events);

// `deepslide train`: loads the data (load_dataset with cfg.threads, reported through
// events.data), then train_model.
TrainSummary load_and_train(const TrainConfig& cfg, const DataSource& src, const TrainEvents& events);

}  // namespace ds
