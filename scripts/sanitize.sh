#!/usr/bin/env bash
# Builds the C++ suite under ThreadSanitizer (build/tsan) and/or
# AddressSanitizer + UndefinedBehaviorSanitizer (build/asan) and runs
# `ctest -L unit` there; `python` builds the extension module itself under
# ASan+UBSan (build/asan-python) and runs the pytest suite against it, the
# ASan runtime preloaded into the interpreter. Exits non-zero on any failing
# test or any sanitizer report.
#
#   scripts/sanitize.sh [thread|address|python|all]     (default: all)
#
# python mode: PYTEST_ARGS (default: the whole suite) picks the tests.
#
# The stress loops run at DFTRACER_STRESS_SCALE (default 0.05 here: the
# sanitizers slow atomics 5-20x); set it to 1 for a full-size run.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"

mode="${1:-all}"
case "$mode" in
  thread) modes=(thread) ;;
  address) modes=(address) ;;
  python) modes=(python) ;;
  all) modes=(thread address python) ;;
  *) echo "usage: $0 [thread|address|python|all]" >&2; exit 2 ;;
esac

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# cmake/ninja from the project's virtualenv when the system has none.
for tool in cmake ninja; do
  if ! command -v "$tool" >/dev/null && [ -x "$root/.venv/bin/$tool" ]; then
    export PATH="$root/.venv/bin:$PATH"
  fi
done

export DFTRACER_STRESS_SCALE="${DFTRACER_STRESS_SCALE:-0.05}"
# Stop at the first report and make it fail the test; keep the output useful.
export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1 second_deadlock_stack=1 history_size=4}"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1 abort_on_error=1 detect_stack_use_after_return=1 strict_init_order=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1 halt_on_error=1}"
jobs="${DFTRACER_SANITIZE_JOBS:-2}"

# The pytest suite against an ASan+UBSan build of the extension. CPython
# itself is not instrumented: the ASan runtime is preloaded, leak checking is
# off (the interpreter keeps much alive until exit), and every report fails.
run_python() {
  local dir=build/asan-python py="${PY:-$root/.venv/bin/python}"
  [ -x "$py" ] || py="$(command -v python3)"
  log "python under ASan: configure and build the extension in $dir"
  cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DDFTRACER_UTILS_SANITIZE=address \
    -DBUILD_TESTING=OFF -DDFTRACER_UTILS_BUILD_BENCHMARKS=OFF -DDFTRACER_UTILS_BUILD_PYTHON=ON \
    -DPython_EXECUTABLE="$py" -Dpybind11_DIR="$("$py" -m pybind11 --cmakedir)" >/dev/null
  cmake --build "$dir" -j"$(nproc)" --target _core
  # The package as its sources have it, with the instrumented module in it.
  local stage="$dir/stage"
  rm -rf "$stage" && mkdir -p "$stage"
  cp -r python/dftracer "$stage/"
  cp "$dir"/python/dftracer/utils/_core*.so "$stage/dftracer/utils/"
  # An editable install in the venv (pip install -e) puts a finder in front
  # of PYTHONPATH that would hand out its own, uninstrumented _core. The
  # stage's sitecustomize (run by site after the .pth files, in every child
  # interpreter too) takes that finder out again.
  cat > "$stage/sitecustomize.py" <<'PY'
import sys
sys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ != "ScikitBuildRedirectingFinder"]
PY
  local preload
  preload="$(gcc -print-file-name=libasan.so):$(gcc -print-file-name=libubsan.so)"
  local out="$dir/pytest.log" rc=0
  # The suite must run the instrumented module, not an installed one.
  if ! PYTHONPATH="$root/$stage" LD_PRELOAD="$preload" ASAN_OPTIONS="detect_leaks=0 verify_asan_link_order=0" \
      "$py" -c "import sys, dftracer.utils._core as c; sys.exit(0 if c.__file__.startswith('$root/$stage/') else 1)"; then
    log "python under ASan: the staged module is not the one imported (an installed dftracer.utils wins)"
    return 1
  fi
  log "python under ASan: pytest ${PYTEST_ARGS:-(whole suite)} (DFTRACER_STRESS_SCALE=$DFTRACER_STRESS_SCALE)"
  # shellcheck disable=SC2086
  if ! (cd tests/python && PYTHONPATH="$root/$stage" LD_PRELOAD="$preload" DFTRACER_UNDER_ASAN=1 \
        ASAN_OPTIONS="detect_leaks=0 abort_on_error=1 verify_asan_link_order=0 detect_stack_use_after_return=0" \
        "$py" -m pytest -q -p no:cacheprovider ${PYTEST_ARGS:-} 2>&1 | tee "$root/$out"); then rc=1; fi
  if grep -qE 'ERROR: AddressSanitizer|runtime error:' "$out"; then
    log "python under ASan: reports found (see $out)"
    rc=1
  fi
  if [ $rc -ne 0 ]; then
    log "python under ASan: FAILED"
    return 1
  fi
  log "python under ASan: clean"
}

run_mode() {
  local san="$1" dir
  case "$san" in
    thread) dir=build/tsan ;;
    address) dir=build/asan ;;
  esac
  log "$san sanitizer: configure and build in $dir"
  # Debug keeps assertions on; the sanitizer flags add -O1.
  cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Debug \
    -DDFTRACER_UTILS_SANITIZE="$san" -DBUILD_TESTING=ON \
    -DDFTRACER_UTILS_BUILD_PYTHON=OFF -DDFTRACER_UTILS_BUILD_BENCHMARKS=OFF >/dev/null
  cmake --build "$dir" -j"$(nproc)"

  log "$san sanitizer: ctest -L unit (DFTRACER_STRESS_SCALE=$DFTRACER_STRESS_SCALE)"
  local out="$dir/sanitize-ctest.log" rc=0
  # pipefail: the pipeline fails when ctest does.
  if ! ctest --test-dir "$dir" -L unit --output-on-failure -j"$jobs" 2>&1 | tee "$out"; then rc=1; fi
  # A report in a test that still exited 0 (or outside a test) fails too.
  if grep -qE 'WARNING: ThreadSanitizer|ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:' \
      "$dir/Testing/Temporary/LastTest.log" "$out" 2>/dev/null; then
    log "$san sanitizer: reports found (see $dir/Testing/Temporary/LastTest.log)"
    rc=1
  fi
  if [ $rc -ne 0 ]; then
    log "$san sanitizer: FAILED"
    return 1
  fi
  log "$san sanitizer: clean"
}

status=0
for san in "${modes[@]}"; do
  if [ "$san" = python ]; then
    run_python || status=1
  else
    run_mode "$san" || status=1
  fi
done
exit $status
