#!/usr/bin/env bash
# The whole test suite: C++ (ctest: unit and stress, then the benchmarks in
# a tiny configuration) and Python (pytest, mypy), from a fresh machine.
#   scripts/test.sh            everything but the sanitizer builds, on the
#                              default Python (python3 or the active venv)
#   scripts/test.sh --ci       also the ThreadSanitizer pass (short form) and
#                              the Python suite on the lowest and the highest
#                              pyenv CPython (scripts/test_pythons.sh)
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$DFTRACER_ROOT"

with_sanitizers=0
for arg in "$@"; do
  case "$arg" in
    --ci) with_sanitizers=1 ;;
    *) echo "usage: $0 [--ci]" >&2; exit 2 ;;
  esac
done

ensure_system_packages g++ libgtest-dev libbenchmark-dev libtbb-dev spin clang-format ccache
use_ccache
ensure_venv
"$PY" -m pip install -q "pytest>=7" "mypy>=1.5" "distributed>=2024.6.0" tqdm ruff "sphinx>=7"
install_package "[test,dask]"
install_native_example

log "C++ build (tests and benchmarks)"
cmake -S . -B build/test -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DPython_EXECUTABLE="$PY" -Dpybind11_DIR="$("$PY" -m pybind11 --cmakedir)" \
  -DBUILD_TESTING=ON -DDFTRACER_UTILS_BUILD_BENCHMARKS=ON >/dev/null
cmake --build build/test -j"$(nproc)"

log "ctest: unit and stress"
ctest --test-dir build/test -LE bench --output-on-failure -j2
log "ctest: benchmarks, tiny configuration"
ctest --test-dir build/test -L bench --output-on-failure

log "pytest"
set +e
(cd tests/python && "$PY" -m pytest -q)
rc=$?
set -e
# pytest exits 5 when it collects no test: not a failure of the suite.
if [ $rc -ne 0 ] && [ $rc -ne 5 ]; then exit $rc; fi

log "mypy"
"$PY" -m mypy

log "formatting (clang-format, ruff)"
PY="$PY" scripts/check_format.sh

PY="$PY" scripts/docs.sh

if [ $with_sanitizers -eq 1 ]; then
  log "ThreadSanitizer pass (short)"
  DFTRACER_STRESS_SCALE="${DFTRACER_STRESS_SCALE:-0.05}" scripts/sanitize.sh thread
  log "the Python suite on other CPython versions"
  scripts/test_pythons.sh
fi
log "all tests passed"
