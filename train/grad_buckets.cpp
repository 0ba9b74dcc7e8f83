// Bucketed gradient sums overlapped with backward (see grad_buckets.h).
#include "train/grad_buckets.h"

#include <cstring>

#include "base/error.h"

namespace ds {

GradBuckets::GradBuckets(const ParamSet& ps, int64_t bucket_bytes) {
  const int64_t cap = bucket_bytes > 0 ? bucket_bytes / (int64_t)sizeof(float) : INT64_MAX;
  for (size_t i = ps.params.size(); i-- > 0;) {
    Param* p = ps.params[i];
    const int64_t n = p->grad.numel();
    // A bucket closes before the parameter that would take it past the size, so only a single
    // tensor larger than the size makes a bucket larger than it.
    if (b_.empty() || (b_.back().numel > 0 && b_.back().numel + n > cap)) b_.emplace_back();
    b_.back().params.push_back(p);
    b_.back().numel += n;
    bucket_of_[p] = b_.size() - 1;
  }
  for (Bucket& b : b_) b.waiting = b.params.size();
}

std::vector<std::string> GradBuckets::names(size_t i) const {
  std::vector<std::string> out;
  for (const Param* p : b_[i].params) out.push_back(p->name);
  return out;
}

void GradBuckets::start(Bucket& b) {
  b.flat.resize((size_t)b.numel);
  int64_t off = 0;
  for (const Param* p : b.params) {
    std::memcpy(b.flat.data() + off, p->grad.data(), (size_t)p->grad.numel() * sizeof(float));
    off += p->grad.numel();
  }
  b.sum.start(b.flat.data(), b.numel);
}

void GradBuckets::land(Bucket& b) {
  int64_t off = 0;
  for (Param* p : b.params) {
    std::memcpy(p->grad.data(), b.flat.data() + off, (size_t)p->grad.numel() * sizeof(float));
    off += p->grad.numel();
  }
}

void GradBuckets::pump() {
  for (;;) {
    if (landed_ < started_) {  // the one bucket in flight
      if (!b_[landed_].sum.progress()) return;
      land(b_[landed_++]);
    }
    if (started_ == b_.size() || b_[started_].waiting > 0) return;
    start(b_[started_++]);
  }
}

void GradBuckets::after_node(const std::vector<Param*>& completed) {
  for (const Param* p : completed) {
    const auto it = bucket_of_.find(p);
    if (it == bucket_of_.end()) continue;  // not one of the parameters summed
    Bucket& b = b_[it->second];
    DS_CHECK(b.waiting > 0, "gradient of " + p->name + " completed twice in one backward pass");
    --b.waiting;
  }
  pump();
}

void GradBuckets::finish() {
  started_in_backward_ = started_;
  for (;;) {
    if (landed_ < started_) {
      b_[landed_].sum.wait();
      land(b_[landed_++]);
    }
    if (started_ == b_.size()) break;
    start(b_[started_++]);
  }
  for (Bucket& b : b_) b.waiting = b.params.size();
  started_ = landed_ = 0;
}

}  // namespace ds
