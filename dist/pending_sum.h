// A sum over the ranks that runs while the caller computes: data-parallel training starts one
// per bucket of gradients as soon as backward has completed them, lets them progress between
// the layers that follow, and waits for all before the optimizer step (train/grad_buckets.h).
// The result is comm.h's deterministic sum, element for element: the same bits as one sum() of
// the whole vector, whatever the buckets. These sums travel in a communicator of their own, so
// the collectives started while one is in flight (--sync-bn's sums) cannot be mismatched with it;
// every rank must start its PendingSums in the same order with the same sizes, and only one may
// be in flight at a time in a process (start() checks): a sum is two collectives, the second
// started when the first completes, and two sums in flight could complete in another order on
// another rank, which would pair one rank's gather with another's exchange. (One at a time
// costs nothing on one link, which carries one sum at a time anyway.)
//
// MPI moves a non-blocking collective on only inside MPI calls (Open MPI has no progress thread
// by default), hence progress(). Alone (one process or no MPI) start() leaves v as it is.
#pragma once
#include <cstdint>
#include <memory>

namespace ds::dist {

class PendingSum {
 public:
  PendingSum();
  ~PendingSum();  // never waits (see pending_sum.cpp)
  PendingSum(const PendingSum&) = delete;
  PendingSum& operator=(const PendingSum&) = delete;
  PendingSum(PendingSum&&) noexcept;
  PendingSum& operator=(PendingSum&&) = delete;

  // Begins summing v[0, n) in place; v must stay put and untouched until done() says so.
  void start(float* v, int64_t n);
  // Advances the exchange without blocking; true once v holds the sum (or nothing is in flight).
  bool progress();
  // Blocks until v holds the sum.
  void wait();
  bool done() const;

 private:
  struct State;
  std::unique_ptr<State> s_;
};

}  // namespace ds::dist
