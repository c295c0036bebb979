#!/usr/bin/env bash
# The main job: install dftracer.utils (and the example native extension)
# into a virtualenv and run the demo: synthetic DFTracer trace files indexed
# on the runtime, the same job on concurrent.futures.ThreadPoolExecutor, and
# the speed figures (see python/dftracer/utils/demo_report.py).
# Arguments go to `python -m dftracer.utils demo` (try --help).
set -euo pipefail
source "$(dirname "$0")/env.sh"
ensure_system_packages g++
use_ccache
ensure_venv
install_package "[progress]"
install_native_example
mkdir -p build  # the run's timeline goes here (a later --trace wins)
exec "$PY" -m dftracer.utils demo --trace build/demo-timeline.pfw.gz "$@"
