// Data-parallel training over the ranks of an MPI job (dist/comm.h), as PyTorch's
// DistributedDataParallel does it: every rank holds the whole model, reads its share of each
// global batch (train/loader.h's batch_share), and the gradients are summed over the ranks before
// every rank takes the same optimizer step: after backward, or with a bucket size bucket by
// bucket while backward runs (train/grad_buckets.h). The sums go in a fixed order, so two runs
// with the same number of ranks are bit-identical, whatever the bucket size. BatchNorm uses each
// rank's own statistics (as DDP), or the whole batch's with --sync-bn (bn_sync()). Alone (rank 0
// of 1) every call is a no-op.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/kernels/batchnorm.h"
#include "layers/module.h"
#include "train/grad_buckets.h"
#include "train/loader.h"
#include "train/train_step.h"

namespace ds {

// A training batch as the whole job sees it: every rank's readable count and failures.
struct JobBatch {
  int64_t readable = 0;  // over every rank
  bool any_rank_without_samples = false;
  bool any_rank_lost_all_but_one = false;  // a rank left with 1 readable sample of more
  std::vector<SampleFailure> failed;       // every rank's, in rank order (= epoch order)
};

class DataParallel {
 public:
  // bucket_mb: the gradient sum's bucket size in MB; 0 = one sum of every gradient after backward.
  explicit DataParallel(bool sync_bn, double bucket_mb = kDefaultGradBucketMb);

  int rank() const { return rank_; }
  int ranks() const { return ranks_; }
  bool leader() const { return rank_ == 0; }  // the rank that writes files and reports
  bool sync_bn() const { return sync_bn_; }
  // Null unless --sync-bn with more than one rank.
  const BnSync* bn_sync() const;
  // The smallest share of a batch a rank may be given: 1 with synchronized BatchNorm (the
  // statistics are the whole batch's), else 2 (a rank's own BatchNorm needs two samples).
  int min_share() const { return sync_bn_ ? 1 : 2; }

  // An InputError on every rank when the ranks' descriptions of the run (flags, data, the
  // checkpoint resumed) differ (dist::check_same_run).
  void check_same_run(const std::string& description) const;
  // Rank 0's parameters and buffers to every rank.
  void broadcast_model(const ParamSet& ps) const;
  // Rank 0's buffers (BatchNorm running statistics, which per-rank BatchNorm lets drift apart)
  // to every rank, so that all evaluate the model rank 0 saves.
  void broadcast_buffers(const ParamSet& ps) const;
  // What train_step needs for this rank's part of a step: the loss weight (its readable samples
  // over the job's), synchronized BatchNorm when asked, and, on more than one rank, the gradient
  // sum (its buckets started by backward, finished before the update). ps (the model's, the same
  // on every call) must outlive the step.
  StepSync step_sync(const ParamSet& ps, double loss_weight);
  // What backward tells as it completes gradients (StepSync::grad_hook): starts each bucket's
  // sum. Null alone or with bucket size 0.
  GradHook* gradient_hook(const ParamSet& ps);
  // Sums every parameter's gradient over the ranks (fixed order): waits for the buckets backward
  // started and sums the rest.
  void sum_gradients(const ParamSet& ps);
  // The buckets (null alone, or before the first step: built on first use).
  const GradBuckets* buckets() const { return buckets_.get(); }
  // Every rank's readable count and failures of the batch each holds a share of.
  JobBatch gather(const Batch& mine) const;
  void sum(double* v, int64_t n) const;
  void sum(int64_t* v, int64_t n) const;

 private:
  int rank_ = 0, ranks_ = 1;
  bool sync_bn_ = false;
  double bucket_mb_ = 0;
  std::unique_ptr<GradBuckets> buckets_;
  GradBuckets& buckets_for(const ParamSet& ps);
};

}  // namespace ds
