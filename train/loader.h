// Loader threads: read, augment and normalize batches ahead of the model into a bounded queue.
// Determinism does not depend on thread timing: the epoch's sample order is a permutation seeded
// by (seed, epoch), and each sample's augmentation Rng is seeded by (seed, epoch, position in the
// epoch), so a run resumed at batch b of an epoch sees exactly the batches it would have seen.
// A sample whose read fails with an InputError (a corrupt slide tile, an image that changed since
// it was checked) is left out of its batch and reported with it; the other samples keep their
// positions and augmentation draws, so the batches stay deterministic. The trainer counts them.
// Data-parallel training (train/data_parallel.h): every rank walks the same batches and builds
// only its share of each (batch_share); positions, and so augmentation draws, are the batch's,
// so the data do not depend on the number of ranks.
#pragma once
#include <array>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "engine/tensor.h"
#include "stain/stain_aug.h"
#include "stain/stain_norm.h"
#include "train/augment.h"
#include "train/dataset.h"

namespace ds {

// A 64-bit mix of the arguments (SplitMix64 finaliser chained), for seeding per-epoch/per-sample Rngs.
uint64_t mix_seed(uint64_t a, uint64_t b, uint64_t c = 0);

// The order in which an epoch visits samples [0, n): identity when !shuffle.
std::vector<int64_t> epoch_order(int64_t n, uint64_t seed, int64_t epoch, bool shuffle);

struct SampleFailure {
  int64_t sample = 0;  // index into the loader's samples
  std::string reason;  // the read error
};

struct Batch {
  Tensor x;                           // [N, 3, P, P], normalized; N = readable samples (may be 0)
  std::vector<int> labels;            // N
  std::vector<SampleFailure> failed;  // samples left out, in epoch order
  int64_t share = 0;                  // samples this rank was given (N + failed)
};

// The positions [first, last) of a batch of n samples that rank `rank` of `ranks` builds:
// contiguous, balanced slices in rank order for the first k ranks, where k is the largest
// number of ranks (at least 1, at most `ranks`) that each get min_share samples; the other
// ranks get none. Concatenated in rank order the slices are the batch.
std::pair<int64_t, int64_t> batch_share(int64_t n, int ranks, int rank, int min_share);

struct LoaderOptions {
  int batch_size = 16;
  int workers = 2;
  int queue_batches = 4;  // batches ready ahead of the consumer (per worker at least one)
  bool augment = true;    // training: augmentation on, shuffled order
  AugmentOptions aug;
  // Every sample: the model's stain normalisation first; then, when augmenting and stain_aug is
  // on, HED jitter and/or stain-matrix perturbation drawn from its own Rng (seed, epoch, position;
  // another salt than the colour jitter's), so runs without it draw exactly as before.
  StainReference stain;
  std::vector<SlideStain> slide_stains;  // --stain-fit slide: per Dataset slide (train/stain_fit.h)
  StainAugOptions stain_aug;
  std::array<float, 3> mean{}, std{};
  uint64_t seed = 0;
  bool drop_singleton = true;  // drop a last batch of one sample (train-mode BN needs two)
  int rank = 0, ranks = 1;     // build this rank's share of each batch (batch_share)
  int min_share = 1;
};

// Number of batches an epoch of n samples has under these options.
int64_t batches_per_epoch(int64_t n, const LoaderOptions& opt);

// One pass over `samples` in epoch `epoch`, starting at batch `first_batch`.
class Loader {
 public:
  Loader(const Dataset& data, const std::vector<Sample>& samples, const LoaderOptions& opt, int64_t epoch,
         int64_t first_batch);
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  int64_t num_batches() const { return num_batches_; }
  // The next batch in order; false at the end of the epoch. Rethrows a worker's error.
  bool next(Batch& out);
  double wait_seconds() const { return wait_seconds_; }  // time next() spent blocked on workers

 private:
  void work();
  Batch build(int64_t b) const;

  const Dataset& data_;
  const std::vector<Sample>& samples_;
  LoaderOptions opt_;
  int64_t epoch_;
  std::vector<int64_t> order_;
  int64_t num_batches_ = 0;
  int64_t ahead_ = 1;  // batches built but not yet taken, at most
  int64_t next_build_ = 0, next_take_ = 0;
  std::map<int64_t, Batch> ready_;
  std::exception_ptr error_;
  bool stop_ = false;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::thread> threads_;
  double wait_seconds_ = 0;
};

}  // namespace ds
