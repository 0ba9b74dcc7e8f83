"""What the MPI script tests share: mpirun (when it is missing the test prints "not run: ..." and
exits 0, which ctest counts as skipped), the environment that lets root run it (CI containers)
and gives each test its own Open MPI session folder, and the launch prefix for ranks on one
machine (loopback, no binding)."""
import atexit
import os
import shutil
import sys
import tempfile

MPIRUN = shutil.which("mpirun")
if not MPIRUN:
    print("not run: mpirun is not installed (scripts/install-deps.sh installs openmpi-bin)")
    sys.exit(0)
# Open MPI 4.1 makes its session folder /tmp/ompi.<host>.<uid> on first use; two mpiruns starting
# together (ctest -j 2 runs the MPI tests side by side) can both try, and the loser stops with
# "mkdir ... File exists". Each test's mpiruns use a folder of their own.
SESSION_BASE = tempfile.mkdtemp(prefix="ds_ompi_")
atexit.register(shutil.rmtree, SESSION_BASE, True)
# Root may run mpirun (CI containers) only when it says so.
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OMP_NUM_THREADS="1",
           OMPI_MCA_orte_tmpdir_base=SESSION_BASE)
MPI = [MPIRUN, "--oversubscribe", "--bind-to", "none"]  # then "-np", N, the program


def skip_without_mpi_build(probe):
    """Exits with "not run" when probe (any deepslide run under mpirun) says the binary has no MPI."""
    if "built without MPI" in probe.stderr:
        print("not run: this deepslide was built without MPI")
        sys.exit(0)


def finish(failures, tmp):
    """Prints each failure and exits 1, or removes the scratch folder, prints "ok" and exits 0."""
    for f in failures:
        print("FAIL:", f)
    if not failures:
        shutil.rmtree(tmp)
        print("ok")
    sys.exit(1 if failures else 0)
