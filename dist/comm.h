// The processes of one job and what they exchange: a thin wrapper over MPI (Open MPI) so that no
// other file includes <mpi.h>, and so that the same binary runs alone. MPI is started only when
// a launcher (mpirun, srun) started this process; otherwise, and in a build without MPI, the job
// is one process, rank 0 of 1, and every collective below is a no-op (or a copy).
//
// Sums of floating-point values are deterministic: each rank owns one slice of the vector, adds
// the ranks' contributions to it in rank order (0, 1, ..., N-1) and the slices are gathered back
// (a reduce-scatter and an allgather, the data volume of a ring allreduce). MPI_Allreduce leaves
// the order to the library, which may change with message size or topology; ours does not, so two
// runs with the same number of ranks give bit-identical sums.
//
// Collectives are called from one thread (the main one); work_queue.h's thread on rank 0 calls
// MPI while the main one does not (MPI_THREAD_SERIALIZED). A rank that fails
// ends the whole job through abort_job(): the others would otherwise wait for it for ever.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace ds::dist {

// Starts MPI when a launcher started this process (mpirun/srun environment variables); call
// once at the start of main. Throws InternalError when MPI is needed but cannot start.
void init(int* argc, char*** argv);
// Ends MPI (after the last collective) when init started it.
void finalize();
// Ends every rank of the job with this exit code (MPI_Abort); a single process just exits.
[[noreturn]] void abort_job(int code);

int rank();  // 0 when alone
int size();  // 1 when alone
bool built_with_mpi();

// Elementwise sums over the ranks, in place, in rank order (deterministic; see above).
void sum(float* v, int64_t n);
void sum(double* v, int64_t n);
void sum(int64_t* v, int64_t n);  // exact
// Rank root's bytes to every rank.
void broadcast(void* data, int64_t bytes, int root = 0);
// Every rank's string, in rank order.
std::vector<std::string> allgather(const std::string& mine);

// Seconds this process has spent inside the collectives above (waiting for the slowest rank
// included): the communication share of a data-parallel step.
double comm_seconds();

// An InputError on every rank when the ranks' descriptions of the run (flags, inputs, the
// checkpoint resumed: whatever the caller puts in) differ: they would compute different things,
// or wait for each other for ever. Every rank sends the FNV-1a hash of its description to all.
void check_same_run(const std::string& description);

// True when MPI lets another thread than main call it while main does not (always when alone).
bool threads_allowed();
// True once every rank has left its last exchange with the others (work_queue.h's share_items
// says so): a rank that fails after that leaves no rank waiting for it, so main ends it with its
// exit code after MPI_Finalize instead of ending the whole job with MPI_Abort. Always true alone.
bool finished_together();
void mark_finished_together();

}  // namespace ds::dist
