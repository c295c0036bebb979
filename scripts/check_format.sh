#!/usr/bin/env bash
# Checks (or, with --fix, applies) the project's formatting: clang-format
# (.clang-format) on the C and C++ sources, ruff (pyproject.toml) on Python.
# The frozen copy of the 1.0 C ABI headers is left as it was released.
#
#   scripts/check_format.sh [--fix]
set -euo pipefail
cd "$(dirname "$0")/.."
fix=0
[ "${1:-}" = "--fix" ] && fix=1
py="${PY:-.venv/bin/python}"
[ -x "$py" ] || py=python3
status=0

mapfile -t cxx < <(git ls-files -- 'cpp/*.hpp' 'cpp/*.cpp' 'cpp/*.h' 'tests/*.cpp' 'tests/*.hpp' 'tests/*.c' \
  'bench/*.cpp' 'bench/*.hpp' ':!tests/native_ext/abi_1_0/*')
if [ $fix -eq 1 ]; then
  clang-format -i "${cxx[@]}"
  "$py" -m ruff format python tests bench
  "$py" -m ruff check --fix python tests bench
else
  clang-format --dry-run -Werror "${cxx[@]}" || { echo "C++ formatting differs: scripts/check_format.sh --fix" >&2; status=1; }
  "$py" -m ruff format --check python tests bench || { echo "Python formatting differs: scripts/check_format.sh --fix" >&2; status=1; }
  "$py" -m ruff check python tests bench || status=1
fi
exit $status
