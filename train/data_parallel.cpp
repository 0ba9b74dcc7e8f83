// Data-parallel training (see data_parallel.h).
#include "train/data_parallel.h"

#include <sstream>

#include "base/error.h"
#include "base/format.h"
#include "dist/comm.h"

namespace ds {

namespace {

struct CommBnSync : BnSync {
  void sum(double* v, int64_t n) const override { dist::sum(v, n); }
};
const CommBnSync kCommBnSync;

// A batch share as bytes: "<share> <readable>\n", then per failure "<sample> <bytes>\n<reason>".
std::string encode(const Batch& b) {
  std::string s = std::to_string(b.share) + " " + std::to_string(b.labels.size()) + "\n";
  for (const SampleFailure& f : b.failed)
    s += std::to_string(f.sample) + " " + std::to_string(f.reason.size()) + "\n" + f.reason;
  return s;
}

struct Share {
  int64_t share = 0, readable = 0;
  std::vector<SampleFailure> failed;
};

Share decode(const std::string& s) {
  std::istringstream in(s);
  Share r;
  in >> r.share >> r.readable;
  in.get();
  int64_t sample = 0;
  size_t len = 0;
  while (in >> sample >> len) {
    in.get();
    std::string reason(len, '\0');
    in.read(reason.data(), (std::streamsize)len);
    r.failed.push_back({sample, reason});
  }
  return r;
}

}  // namespace

DataParallel::DataParallel(bool sync_bn, double bucket_mb)
    : rank_(dist::rank()), ranks_(dist::size()), sync_bn_(sync_bn), bucket_mb_(bucket_mb) {
  DS_CHECK_INPUT(bucket_mb >= 0 && bucket_mb <= 1e6,
                 "--grad-bucket-mb must be in [0, 1000000], got " + format_number("%g", bucket_mb));
}

const BnSync* DataParallel::bn_sync() const { return sync_bn_ && ranks_ > 1 ? &kCommBnSync : nullptr; }

void DataParallel::check_same_run(const std::string& description) const { dist::check_same_run(description); }

void DataParallel::broadcast_model(const ParamSet& ps) const {
  if (ranks_ == 1) return;
  for (Param* p : ps.params) dist::broadcast(p->value.data(), p->value.numel() * (int64_t)sizeof(float));
  broadcast_buffers(ps);
}

void DataParallel::broadcast_buffers(const ParamSet& ps) const {
  if (ranks_ == 1) return;
  for (Buffer* b : ps.buffers) dist::broadcast(b->value.data(), b->value.numel() * (int64_t)sizeof(float));
}

GradBuckets& DataParallel::buckets_for(const ParamSet& ps) {
  if (!buckets_) buckets_ = std::make_unique<GradBuckets>(ps, (int64_t)(bucket_mb_ * 1e6));
  return *buckets_;
}

StepSync DataParallel::step_sync(const ParamSet& ps, double loss_weight) {
  StepSync s;
  s.bn = bn_sync();
  s.loss_weight = loss_weight;
  if (ranks_ > 1) {
    s.grad_hook = gradient_hook(ps);
    s.reduce_gradients = [this, &ps] { sum_gradients(ps); };
  }
  return s;
}

GradHook* DataParallel::gradient_hook(const ParamSet& ps) {
  if (ranks_ == 1 || bucket_mb_ == 0) return nullptr;
  return &buckets_for(ps);
}

void DataParallel::sum_gradients(const ParamSet& ps) {
  if (ranks_ == 1) return;
  buckets_for(ps).finish();
}

JobBatch DataParallel::gather(const Batch& mine) const {
  JobBatch jb;
  const std::vector<std::string> all = dist::allgather(encode(mine));
  for (const std::string& s : all) {
    Share sh = decode(s);
    jb.readable += sh.readable;
    if (sh.readable == 0) jb.any_rank_without_samples = true;
    if (sh.readable == 1 && sh.share > 1) jb.any_rank_lost_all_but_one = true;
    for (SampleFailure& f : sh.failed) jb.failed.push_back(std::move(f));
  }
  return jb;
}

void DataParallel::sum(double* v, int64_t n) const { dist::sum(v, n); }
void DataParallel::sum(int64_t* v, int64_t n) const { dist::sum(v, n); }

}  // namespace ds
