#!/usr/bin/env bash
# Installs the Debian 12 packages deepslide.cpp needs to build, test and benchmark.
# Idempotent: only packages that are missing are installed; does nothing when all are present.
set -euo pipefail

BUILD_PKGS="cmake g++ make pkg-config libeigen3-dev libtiff-dev zlib1g-dev libjpeg62-turbo-dev libopenjp2-7-dev libdcmtk-dev libstb-dev
  catch2 libbenchmark-dev libcli11-dev nlohmann-json3-dev libtomlplusplus-dev libomp-dev
  libopenmpi-dev openmpi-bin libcpp-httplib-dev"
# Test oracles and third-party writers (chromium: the headless browser of test_serve_browser.py): used by tests and fixture generators, never at run time.
ORACLE_PKGS="python3 python3-numpy python3-pil python3-torch python3-torchvision python3-openslide
  openslide-tools libvips-tools libtiff-tools libopenjp2-tools libjpeg-turbo-progs python3-tifffile
  python3-shapely python3-pydicom dcmtk chromium"
# The fuzz targets (tests/fuzz/run_fuzz.sh): clang 14, whose libFuzzer and sanitizer runtimes
# (libclang_rt.fuzzer-x86_64.a, asan, ubsan) are in libclang-rt-14-dev; ccache keeps rebuilds short.
FUZZ_PKGS="clang libclang-rt-14-dev ccache"
# Extra oracles used only to regenerate committed fixtures (scripts/gen_*_fixtures.py).
FIXTURE_PKGS="python3-skimage python3-opencv python3-sklearn"
# Benchmarks and accuracy runs outside `make test`: npm fetches ONNX Runtime (bench/compare_ort.py)
# and Fashion-MNIST (tests/winograd_train_accuracy.py).
BENCH_PKGS="npm"

want="$BUILD_PKGS $ORACLE_PKGS"
for arg in "$@"; do
  case "$arg" in
    --fuzz) want="$want $FUZZ_PKGS" ;;
    --fixtures) want="$want $FIXTURE_PKGS" ;;
    --bench) want="$want $BENCH_PKGS" ;;
    *) echo "install-deps: unknown option $arg (use --fuzz, --fixtures, --bench)" >&2; exit 2 ;;
  esac
done

missing=""
for p in $want; do
  # npm may come with another nodejs (NodeSource's bundles it and conflicts with Debian's npm
  # package): a working npm command is enough.
  if [ "$p" = npm ] && command -v npm > /dev/null 2>&1; then continue; fi
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing="$missing $p"
  fi
done

if [ -z "$missing" ]; then
  echo "install-deps: all packages present"
  exit 0
fi

echo "install-deps: installing:$missing"
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
