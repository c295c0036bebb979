#!/usr/bin/env bash
# The Python suite on other CPython versions: for each interpreter given
# (default: the lowest and the highest 3.x that pyenv has here), a virtualenv
# .venv-<version>, the package and the example extension built for it (no
# isolation: nothing is fetched for dftracer-utils), then pytest.
#   scripts/test_pythons.sh                      lowest and highest pyenv 3.9+
#   scripts/test_pythons.sh /path/to/python ...  those interpreters
# scripts/test.sh --ci runs it after the default interpreter's suite.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$DFTRACER_ROOT"
use_ccache

# The pyenv CPythons from 3.9 on, sorted by version.
pyenv_pythons() {
  local root="${PYENV_ROOT:-$HOME/.pyenv}"
  [ -d "$root/versions" ] || return 0
  for d in "$root"/versions/3.*; do
    local v="${d##*/}" minor
    minor="$(echo "$v" | cut -d. -f2)"
    [[ "$v" =~ ^3\.[0-9]+\.[0-9]+$ ]] && [ "$minor" -ge 9 ] && [ -x "$d/bin/python" ] && echo "$v $d/bin/python"
  done | sort -t. -k1,1n -k2,2n -k3,3n | awk '{print $2}'
}

if [ $# -gt 0 ]; then
  pythons=("$@")
else
  mapfile -t all < <(pyenv_pythons)
  if [ ${#all[@]} -eq 0 ]; then
    log "no pyenv CPython 3.9+ found: nothing to test beyond the default interpreter"
    exit 0
  fi
  pythons=("${all[0]}")
  [ ${#all[@]} -gt 1 ] && pythons+=("${all[-1]}")
fi

failed=()
for base in "${pythons[@]}"; do
  version="$("$base" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
  venv="$DFTRACER_ROOT/.venv-$version"
  log "Python $version ($base): virtualenv $venv"
  [ -x "$venv/bin/python" ] || "$base" -m venv "$venv"
  PY="$venv/bin/python"
  "$PY" -m pip install -q --upgrade pip
  "$PY" -m pip install -q "scikit-build-core>=0.10" "pybind11>=2.12" "cmake>=3.20" ninja \
    "pytest>=7" "distributed>=2024.6.0" tqdm
  install_package "[test,dask]"
  install_native_example
  log "pytest on Python $version"
  set +e
  # A temporary folder of its own: pytest prunes old ones under the shared
  # default, which would pull files from under a run of another version.
  (cd tests/python && "$PY" -m pytest -q -p no:cacheprovider --durations=10 --basetemp="$DFTRACER_ROOT/build/pytest-$version")
  rc=$?
  set -e
  if [ $rc -ne 0 ] && [ $rc -ne 5 ]; then
    log "pytest failed on Python $version"
    failed+=("$version")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  log "the suite failed on Python ${failed[*]}"
  exit 1
fi
log "the suite passed on: ${pythons[*]}"
