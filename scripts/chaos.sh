#!/usr/bin/env bash
# The long form of the chaos suites (issue 10): the C++ chaos test in the
# release, TSan and ASan builds, and the Python chaos tests on the installed
# package and on an ASan build of the extension, each for SECONDS seconds.
# Run scripts/test.sh and scripts/sanitize.sh first (they make the builds).
#
#   scripts/chaos.sh [SECONDS]      (default 600 per run)
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
seconds="${1:-600}"
py="${PY:-$root/.venv/bin/python}"
log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
status=0

for dir in build/test build/tsan build/asan; do
  bin="$dir/tests/cpp/test_chaos"
  if [ ! -x "$bin" ]; then
    log "skipping $bin (not built)"
    continue
  fi
  log "C++ chaos, $dir, ${seconds}s"
  if ! DFTRACER_CHAOS_SECONDS="$seconds" TSAN_OPTIONS="halt_on_error=1" \
       ASAN_OPTIONS="detect_leaks=1 abort_on_error=1" "$bin" 2>&1 | tail -n 4; then
    status=1
  fi
done

log "Python chaos, installed package, ${seconds}s"
(cd tests/python && DFTRACER_CHAOS_SECONDS="$seconds" "$py" -m pytest -q -s -p no:logging test_chaos.py) || status=1

log "Python chaos, ASan build of the extension, ${seconds}s"
DFTRACER_CHAOS_SECONDS="$seconds" PYTEST_ARGS="-s -p no:logging test_chaos.py test_reliability.py" \
  scripts/sanitize.sh python || status=1

exit $status
