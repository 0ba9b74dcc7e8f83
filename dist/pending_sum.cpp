// Background sums over the ranks (see pending_sum.h): OrderedSum on background_comm(), with the
// time spent in its MPI calls and additions counted in comm_seconds().
#include "dist/pending_sum.h"

#include "base/error.h"
#include "dist/comm.h"
#include "dist/mpi_check.h"
#include "dist/ordered_sum.h"

namespace ds::dist {

struct PendingSum::State {
#ifdef DEEPSLIDE_MPI
  OrderedSum<float> sum;
#endif
};

#ifdef DEEPSLIDE_MPI
namespace {
const void* g_in_flight = nullptr;  // the PendingSum in flight, if any (one at a time)
}  // namespace
#endif

PendingSum::PendingSum() : s_(std::make_unique<State>()) {}
PendingSum::PendingSum(PendingSum&&) noexcept = default;

// Finished sums are the normal case (GradBuckets::finish waits for all). One still in flight
// means an exception is unwinding this rank, and main is about to end the job (MPI_Abort): waiting
// here could hang for a rank that never joins, and freeing its buffers would let MPI write into
// freed memory meanwhile, so the state is left allocated.
PendingSum::~PendingSum() {
  if (s_ && !done()) (void)s_.release();
}

void PendingSum::start(float* v, int64_t n) {
#ifdef DEEPSLIDE_MPI
  if (size() == 1) return;
  DS_CHECK(!g_in_flight, "a background sum started while another is in flight");
  CommTimer t;
  s_->sum.start(background_comm(), v, n);
  g_in_flight = s_->sum.done() ? nullptr : s_.get();
#endif
}

bool PendingSum::progress() {
#ifdef DEEPSLIDE_MPI
  if (s_->sum.done()) return true;
  CommTimer t;
  if (!s_->sum.progress()) return false;
  g_in_flight = nullptr;
  return true;
#else
  return true;
#endif
}

void PendingSum::wait() {
#ifdef DEEPSLIDE_MPI
  if (s_->sum.done()) return;
  CommTimer t;
  s_->sum.wait();
  g_in_flight = nullptr;
#endif
}

bool PendingSum::done() const {
#ifdef DEEPSLIDE_MPI
  return s_->sum.done();
#else
  return true;
#endif
}

}  // namespace ds::dist
