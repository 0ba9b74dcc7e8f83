// The gradient sum of data-parallel training in buckets, overlapped with the backward pass, as
// PyTorch's DistributedDataParallel does it: the parameters are cut, in the reverse of the
// model's order (roughly the order backward completes them: the classifier first, conv1 last),
// into buckets of about `bucket_bytes` of gradients. As backward completes the last parameter
// of a bucket (engine/autograd.h's GradHook), the bucket's gradients are copied into one buffer
// and its sum over the ranks starts (dist/pending_sum.h) while backward goes on with earlier
// layers; after every node the sum in flight is given a chance to progress, and when it is done
// the next completed bucket starts. finish() starts what is left and waits for every bucket
// before the optimizer step.
//
// One bucket is in flight at a time, and buckets start in bucket order on every rank (a bucket
// completed early waits for the ones before it), so the ranks' collectives match, even when one
// rank has no sample to run backward on (it starts them all in finish()). Each element is summed
// in rank order whatever the buckets, so the summed gradients are bit-identical to one sum of all
// of them: the bucket size changes when the sums run, never their result.
#pragma once
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "dist/pending_sum.h"
#include "layers/module.h"

namespace ds {

// The default bucket size (--grad-bucket-mb of train and bench), MB (10^6 bytes): 0, one sum
// after backward, because on the one machine we can measure (2 ranks x 1 thread) the buckets did
// not pay (BENCHMARKS.md, "Gradient buckets"). Across machines the model of docs/design.md
// ("Scaling across machines, on paper", bench/scaling_on_paper.py) has them hide most of the sum,
// best at 10 MB for ResNet-18's 45-47 MB: 25 MB (PyTorch's default) leaves a 25 MB bucket that
// backward completes only near its end, 4 MB pays too many message latencies at 128 nodes.
constexpr double kDefaultGradBucketMb = 0;

class GradBuckets final : public GradHook {
 public:
  // ps: the parameters whose gradients are summed (pointers kept: they must outlive this).
  // bucket_bytes <= 0: one bucket of everything (then no hook: one sum after backward).
  GradBuckets(const ParamSet& ps, int64_t bucket_bytes);

  void after_node(const std::vector<Param*>& completed) override;
  // Starts the buckets not started yet, waits for all, leaves the sums in the gradients, and
  // gets ready for the next step.
  void finish();

  size_t size() const { return b_.size(); }
  // The parameter names of bucket i, in bucket order (tests).
  std::vector<std::string> names(size_t i) const;
  int64_t bytes(size_t i) const { return b_[i].numel * (int64_t)sizeof(float); }
  // How many buckets the last finish() found started during backward (the overlapped ones; the
  // others waited behind the one in flight, or for backward, and started after it).
  size_t started_in_backward() const { return started_in_backward_; }

 private:
  struct Bucket {
    std::vector<Param*> params;
    int64_t numel = 0;
    size_t waiting = 0;       // parameters backward has not completed yet this step
    std::vector<float> flat;  // the gradients during the sum
    dist::PendingSum sum;
  };
  void start(Bucket& b);
  void land(Bucket& b);  // the sum back into the gradients
  void pump();           // lands the bucket in flight if done, starts the next completed one

  std::vector<Bucket> b_;
  std::unordered_map<const Param*, size_t> bucket_of_;
  size_t started_ = 0;  // buckets [0, started_) have started this step
  size_t landed_ = 0;   // buckets [0, landed_) are back in the gradients (started_ - landed_ <= 1)
  size_t started_in_backward_ = 0;
};

}  // namespace ds
