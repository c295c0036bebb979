# Shared set-up for scripts/run.sh and scripts/test.sh: sourced, not run.
#
# ensure_system_packages: the Debian packages the build and tests need
#   (installed with apt-get when missing and we are root).
# ensure_venv: a virtualenv at $DFTRACER_VENV (default .venv) unless one is
#   already active, with the build tools; exports PY.

DFTRACER_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

log() { printf '\033[1m==> [%dm%02ds] %s\033[0m\n' $((SECONDS / 60)) $((SECONDS % 60)) "$*" >&2; }

ensure_system_packages() {
  local wanted=("$@") missing=()
  for pkg in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    log "missing Debian packages: ${missing[*]} (run: sudo apt-get install -y ${missing[*]})"
    return 1
  fi
  log "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
}

ensure_venv() {
  if [ -n "${VIRTUAL_ENV:-}" ]; then
    PY="$VIRTUAL_ENV/bin/python"
  else
    local venv="${DFTRACER_VENV:-$DFTRACER_ROOT/.venv}"
    if [ ! -x "$venv/bin/python" ]; then
      log "creating virtualenv $venv"
      python3 -m venv "$venv"
    fi
    PY="$venv/bin/python"
  fi
  export PY
  log "build tools into $($PY -c 'import sys; print(sys.prefix)')"
  "$PY" -m pip install -q --upgrade pip
  "$PY" -m pip install -q "scikit-build-core>=0.10" "pybind11>=2.12" "cmake>=3.20" ninja
}

# ccache, when installed, for every CMake build the scripts start: the engine's
# sources compile the same for every Python version and for the C++ tests,
# so the second and later builds reuse them (CI builds 3 Pythons).
use_ccache() {
  if command -v ccache >/dev/null 2>&1; then
    export CMAKE_C_COMPILER_LAUNCHER=ccache CMAKE_CXX_COMPILER_LAUNCHER=ccache
  fi
}

# pip install the package itself (non-editable, incremental build dir).
# --no-build-isolation: the build uses the tools installed above and never
# asks the package index for anything (the name dftracer-utils there is
# another project's package; README.md, "The distribution name").
install_package() {
  local extras="${1:-}"
  log "pip install .${extras}: compiling the C++ engine and its Python bindings"
  log "  (about 3 minutes on 2 cores the first time, seconds when nothing changed; pip install -v shows ninja's progress)"
  local t0=$SECONDS
  "$PY" -m pip install -q --no-build-isolation "$DFTRACER_ROOT${extras}"
  log "  installed in $((SECONDS - t0)) s"
}

# The example extension of docs/native-extensions.md, built against the
# installed package (find_package(DFTracerUtils)); no index look-up.
install_native_example() {
  log "pip install tests/native_ext: compiling the example extension (about 1 minute on 2 cores)"
  local t0=$SECONDS
  "$PY" -m pip install -q --no-build-isolation --no-deps "$DFTRACER_ROOT/tests/native_ext"
  log "  installed in $((SECONDS - t0)) s"
}
