// <mpi.h> for dist/'s own files (no header outside dist/ includes it) and the check that turns an
// MPI error code into an InternalError naming the call. Empty in a build without MPI.
#pragma once
#ifdef DEEPSLIDE_MPI
// The C API only: the deprecated C++ bindings mpi.h pulls into C++ need libmpi_cxx.
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>

namespace ds::dist {

// Throws InternalError("<what> failed: <MPI's message>") unless rc is MPI_SUCCESS.
void check_mpi(int rc, const char* what);

}  // namespace ds::dist
#endif
