#!/usr/bin/env bash
# The main job: install dftracer.utils into a virtualenv and run the demo
# (synthetic trace files indexed in parallel, then the same work on
# concurrent.futures.ThreadPoolExecutor for comparison).
# Arguments go to `python -m dftracer.utils demo` (try --help).
set -euo pipefail
source "$(dirname "$0")/env.sh"
ensure_system_packages g++
ensure_venv
install_package "[progress]"
exec "$PY" -m dftracer.utils demo "$@"
