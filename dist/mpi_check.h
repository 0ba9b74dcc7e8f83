// <mpi.h> for dist/'s own files (no header outside dist/ includes it) and the check that turns an
// MPI error code into an InternalError naming the call. Empty in a build without MPI.
#pragma once
#ifdef DEEPSLIDE_MPI
// The C API only: the deprecated C++ bindings mpi.h pulls into C++ need libmpi_cxx.
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>

#include <chrono>
#include <cstdint>

namespace ds::dist {

// Throws InternalError("<what> failed: <MPI's message>") unless rc is MPI_SUCCESS.
void check_mpi(int rc, const char* what);

// Elements (or bytes) per MPI call of dist's large transfers: bounds scratch buffers and keeps
// MPI's int counts far from overflow.
constexpr int64_t kPiece = int64_t(1) << 24;

// The job's ranks again, in a communicator of their own (MPI_Comm_dup at init), for the sums
// that run in the background (pending_sum.h): those never match a collective another part of
// the program starts on MPI_COMM_WORLD while they are in flight (--sync-bn's sums in backward).
MPI_Comm background_comm();

// Adds the seconds of its lifetime to comm_seconds() (comm.h): time spent inside MPI calls.
class CommTimer {
 public:
  CommTimer();
  ~CommTimer();
  CommTimer(const CommTimer&) = delete;
  CommTimer& operator=(const CommTimer&) = delete;

 private:
  std::chrono::steady_clock::time_point t0_;
};

}  // namespace ds::dist
#endif
