#!/usr/bin/env bash
# The API reference: Sphinx autodoc over the installed package's docstrings
# (docs/api), warnings as errors, into build/docs/index.html.
# Uses the active virtualenv (or .venv); scripts/test.sh runs it.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$DFTRACER_ROOT"
PY="${PY:-${VIRTUAL_ENV:+$VIRTUAL_ENV/bin/python}}"
PY="${PY:-$DFTRACER_ROOT/.venv/bin/python}"
"$PY" -c 'import sphinx' 2>/dev/null || "$PY" -m pip install -q "sphinx>=7"
log "API reference (Sphinx, -W: a warning fails the build) into build/docs"
"$PY" -m sphinx -W --keep-going -q -b html docs/api build/docs
log "  build/docs/index.html"
