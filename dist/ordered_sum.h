// The deterministic sum of comm.h as a state machine that can run in the background: dist's own
// files use it (comm.cpp's blocking sum() starts one and waits; pending_sum.h's sums progress
// between the caller's work). Per piece of the vector, every rank sends its r-th slice to rank r
// (MPI_Ialltoall), each rank adds the slices it received in rank order (0, 1, ..., N-1), and the
// sums are gathered back (MPI_Iallgather): the data volume of a ring allreduce, in an order MPI
// cannot change, so every element's sum is the same whatever the pieces or buckets a caller cuts
// the vector into. Needs <mpi.h>: compiled only with DEEPSLIDE_MPI.
#pragma once
#ifdef DEEPSLIDE_MPI
#include <cstdint>
#include <vector>

#include "dist/mpi_check.h"

namespace ds::dist {

template <class T>
class OrderedSum {
 public:
  OrderedSum() = default;
  OrderedSum(const OrderedSum&) = delete;
  OrderedSum& operator=(const OrderedSum&) = delete;
  // Begins summing v[0, n) in place over comm's ranks (every rank calls with the same n, in the
  // same order as its other collectives on comm). v must stay put and untouched until done().
  void start(MPI_Comm comm, T* v, int64_t n);
  // Lets the exchange move on without blocking (Open MPI advances non-blocking collectives only
  // inside MPI calls); true once v holds the sum.
  bool progress();
  // Blocks until v holds the sum.
  void wait();
  bool done() const { return phase_ == Phase::idle; }

 private:
  enum class Phase { idle, exchange, gather };
  void begin_piece();
  void after_exchange();  // adds in rank order, starts the gather
  void after_gather();    // copies the piece back; the next one, or idle
  void advance();         // the step after the request in flight completed

  MPI_Comm comm_ = MPI_COMM_NULL;
  T* v_ = nullptr;
  int64_t n_ = 0, off_ = 0, len_ = 0, chunk_ = 0;
  int ranks_ = 1;
  Phase phase_ = Phase::idle;
  MPI_Request req_ = MPI_REQUEST_NULL;
  std::vector<T> send_, recv_;  // kept between sums (their capacity is reused)
};

}  // namespace ds::dist
#endif
