// The job's processes (see comm.h). Built with DEEPSLIDE_MPI (CMake found MPI) this is Open MPI's
// C API; without it every function keeps the single-process meaning.
#include "dist/comm.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>

#include "base/error.h"

#include "base/hash.h"
#include "dist/mpi_check.h"
#include "dist/ordered_sum.h"

namespace ds::dist {

namespace {

int g_rank = 0, g_size = 1;
bool g_started = false;  // init() started MPI
bool g_threads = false;  // MPI lets a thread other than main call it (MPI_THREAD_SERIALIZED)
bool g_finished_together = false;
double g_comm_seconds = 0;
#ifdef DEEPSLIDE_MPI
MPI_Comm g_background = MPI_COMM_NULL;  // background_comm()
#endif

// The environment a launcher gives its processes: Open MPI's mpirun, PMIx (srun --mpi=pmix,
// Open MPI 4), PMI-1/2 (srun --mpi=pmi2, MPICH's hydra).
bool launched_by_mpi() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"})
    if (std::getenv(v)) return true;
  return false;
}

// How many processes the launcher started, when it says so (0 when it does not).
[[maybe_unused]] int launcher_size() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_NTASKS"})
    if (const char* s = std::getenv(v)) return std::atoi(s);
  return 0;
}

}  // namespace

#ifdef DEEPSLIDE_MPI
void check_mpi(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, msg, &len);
  throw InternalError(std::string(what) + " failed: " + std::string(msg, (size_t)len));
}

MPI_Comm background_comm() { return g_background; }

CommTimer::CommTimer() : t0_(std::chrono::steady_clock::now()) {}
CommTimer::~CommTimer() {
  g_comm_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
}
#endif

void init(int* argc, char*** argv) {
  if (!launched_by_mpi()) return;
#ifdef DEEPSLIDE_MPI
  int provided = 0;
  // Serialized: work_queue.h's answering thread on rank 0 calls MPI while the main thread does not.
  check_mpi(MPI_Init_thread(argc, argv, MPI_THREAD_SERIALIZED, &provided), "MPI_Init_thread");
  g_started = true;
  g_threads = provided >= MPI_THREAD_SERIALIZED;
  MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_size);
  check_mpi(MPI_Comm_dup(MPI_COMM_WORLD, &g_background), "MPI_Comm_dup");
#else
  if (launcher_size() > 1)
    throw InputError("this deepslide was built without MPI and cannot run under mpirun/srun with " +
                     std::to_string(launcher_size()) + " processes (rebuild with libopenmpi-dev installed)");
#endif
}

void finalize() {
#ifdef DEEPSLIDE_MPI
  if (g_started) {
    if (g_background != MPI_COMM_NULL) MPI_Comm_free(&g_background);
    MPI_Finalize();
  }
#endif
  g_started = false;
}

void abort_job(int code) {
#ifdef DEEPSLIDE_MPI
  if (g_started) MPI_Abort(MPI_COMM_WORLD, code);
#endif
  std::_Exit(code);
}

int rank() { return g_rank; }
int size() { return g_size; }

bool built_with_mpi() {
#ifdef DEEPSLIDE_MPI
  return true;
#else
  return false;
#endif
}

namespace {
template <class T>
void sum_floats(T* v, int64_t n) {
#ifdef DEEPSLIDE_MPI
  if (g_size == 1 || n == 0) return;
  CommTimer t;
  OrderedSum<T> s;
  s.start(MPI_COMM_WORLD, v, n);
  s.wait();
#endif
}
}  // namespace

void sum(float* v, int64_t n) { sum_floats(v, n); }
void sum(double* v, int64_t n) { sum_floats(v, n); }

void sum(int64_t* v, int64_t n) {
#ifdef DEEPSLIDE_MPI
  if (g_size == 1 || n == 0) return;
  CommTimer t;
  DS_CHECK(n <= INT32_MAX, "integer sum of " + std::to_string(n) + " values");
  check_mpi(MPI_Allreduce(MPI_IN_PLACE, v, (int)n, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD), "MPI_Allreduce");
#endif
}

void broadcast(void* data, int64_t bytes, int root) {
#ifdef DEEPSLIDE_MPI
  if (g_size == 1 || bytes == 0) return;
  CommTimer t;
  char* p = static_cast<char*>(data);
  for (int64_t off = 0; off < bytes; off += kPiece) {
    const int64_t len = std::min(kPiece, bytes - off);
    check_mpi(MPI_Bcast(p + off, (int)len, MPI_BYTE, root, MPI_COMM_WORLD), "MPI_Bcast");
  }
#endif
}

std::vector<std::string> allgather(const std::string& mine) {
#ifdef DEEPSLIDE_MPI
  if (g_size > 1) {
    CommTimer t;
    std::vector<int64_t> lens((size_t)g_size);
    const int64_t my_len = (int64_t)mine.size();
    check_mpi(MPI_Allgather(&my_len, 1, MPI_INT64_T, lens.data(), 1, MPI_INT64_T, MPI_COMM_WORLD), "MPI_Allgather");
    std::vector<int> counts((size_t)g_size), displs((size_t)g_size);
    int64_t total = 0;
    for (int r = 0; r < g_size; ++r) {
      DS_CHECK(lens[(size_t)r] >= 0 && total + lens[(size_t)r] <= INT32_MAX, "allgather of more than 2 GB");
      counts[(size_t)r] = (int)lens[(size_t)r];
      displs[(size_t)r] = (int)total;
      total += lens[(size_t)r];
    }
    std::string all((size_t)total, '\0');
    check_mpi(MPI_Allgatherv(mine.data(), (int)my_len, MPI_CHAR, all.data(), counts.data(), displs.data(), MPI_CHAR,
                             MPI_COMM_WORLD),
              "MPI_Allgatherv");
    std::vector<std::string> out((size_t)g_size);
    for (int r = 0; r < g_size; ++r) out[(size_t)r] = all.substr((size_t)displs[(size_t)r], (size_t)counts[(size_t)r]);
    return out;
  }
#endif
  return {mine};
}

double comm_seconds() { return g_comm_seconds; }

bool threads_allowed() { return g_size == 1 || g_threads; }

void mark_finished_together() { g_finished_together = true; }
bool finished_together() { return g_size == 1 || g_finished_together; }

void check_same_run(const std::string& description) {
  if (g_size == 1) return;
  const uint64_t h = fnv1a(description.data(), description.size());
  const std::vector<std::string> all = allgather(std::string(reinterpret_cast<const char*>(&h), sizeof h));
  for (int r = 1; r < g_size; ++r)
    if (all[(size_t)r] != all[0])
      throw InputError("rank " + std::to_string(r) + " of " + std::to_string(g_size) +
                       " has other flags, data or checkpoint than rank 0: every rank must run the same command "
                       "on the same files (a shared file system)");
}

}  // namespace ds::dist
