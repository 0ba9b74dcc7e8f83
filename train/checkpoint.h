// Training checkpoints: a normal model file (loads with load_model / deepslide classify) plus a
// state file next to it (<name>.state.safetensors) holding what an exact resume needs: optimizer
// moments and step, the scheduler epoch, the position in training (epochs done, batches done in
// the next epoch), running metric sums, the best checkpoint so far, the log.csv text, the items
// found unreadable so far (for the 1% rule and the final list; a resumed run re-reads only what
// comes after the checkpoint, so nothing is counted twice), a hash of the model file and the
// training configuration (a resume with a different one is refused by name).
// No generator state is needed: the loader derives every random draw from (seed, epoch, position).
// Both files are written atomically (temp, fsync, rename), the model file first, so a state file
// only exists next to a complete model file.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "train/optimizer.h"
#include "weights/model.h"
#include "weights/safetensors.h"

namespace ds {

// An item whose read failed while training: its file, where in it ("x=.. y=.." for a slide
// window, "" for a patch image) and the error. No tabs or newlines in any field.
struct UnreadableItem {
  std::string file, where, reason;
  std::string describe() const { return file + (where.empty() ? "" : " " + where); }  // "file x=.. y=.."
};

struct TrainState {
  int64_t epochs_done = 0;  // completed epochs
  int64_t batch = 0;        // batches done in epoch epochs_done + 1
  int64_t sched_epoch = 0;  // ExponentialLR epoch
  double loss_sum = 0;      // running sums of the epoch in progress
  int64_t correct = 0, seen = 0;
  double epoch_seconds = 0;  // wall time spent in the epoch in progress
  int64_t best_epoch = 0;    // best saved end-of-epoch checkpoint so far (0: none)
  double best_val_acc = -1;
  std::string best_path;
  std::string log_csv;                     // the whole OUT/log.csv as of this checkpoint
  std::vector<UnreadableItem> unreadable;  // in the order found, each item once
  OptimizerState optimizer;
  std::map<std::string, std::string> config;  // training configuration fingerprint (flag -> value)
};

std::string state_path_for(const std::string& model_path);  // x.safetensors -> x.state.safetensors

// save_model(model_path) then the state file.
void write_checkpoint(const std::string& model_path, const Model& model, const TrainState& state);

struct Checkpoint {
  Model model;
  TrainState state;
};
// Reads a checkpoint by its model file path; a missing, corrupt, partial or mismatched (model file
// not the one the state was written with) pair is an InputError naming the file.
Checkpoint read_checkpoint(const std::string& model_path);

// The training state a state file holds (read_checkpoint without the model file: no hash check),
// from the file already parsed; `path` names it in errors. For read_checkpoint and the fuzzer.
TrainState train_state_from(const StFile& f, const std::string& path);

// The most advanced complete checkpoint (model + state file) in dir, by the position in its name
// (<arch>_e<E>_va<acc> = end of epoch E, <arch>_e<E>_b<B> = B batches into epoch E); "" if none.
std::string latest_checkpoint(const std::string& dir);

// InputError naming the state file and the first differing setting.
void check_config(const std::string& state_path, const std::map<std::string, std::string>& saved,
                  const std::map<std::string, std::string>& current);

uint64_t file_hash(const std::string& path);  // FNV-1a 64 of the file's bytes

}  // namespace ds
