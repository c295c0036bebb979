#!/usr/bin/env bash
# Model-checks the executor's idle protocol (idle_protocol.pml) with spin:
# the protocol as implemented must hold in every interleaving, and each of
# its earlier broken forms must be caught, so the check itself is known to
# bite. Exits non-zero on any surprise. Needs spin and a C compiler.
#
#   tests/model/check_idle_protocol.sh [work dir]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="${1:-$(mktemp -d)}"
mkdir -p "$work"
cp "$here/idle_protocol.pml" "$work/"
cd "$work"

check() {  # check <expect: ok|fail> [-DVARIANT]
  local expect="$1"; shift
  spin "$@" -a idle_protocol.pml >/dev/null
  gcc -O2 -DCOLLAPSE -w -o pan pan.c
  local out
  out="$(./pan -m400000 2>&1)"
  local errors
  errors="$(sed -n 's/.*errors: \([0-9]*\).*/\1/p' <<<"$out")"
  local stored
  stored="$(sed -n 's/^ *\([0-9e+.]*\) states, stored.*/\1/p' <<<"$out")"
  local name="${1:-protocol as implemented}"
  if [ "$expect" = ok ] && [ "$errors" = 0 ] && ! grep -q "max search depth too small" <<<"$out"; then
    echo "idle protocol: $name: no violation in $stored states (assertions, invalid end states)"
  elif [ "$expect" = fail ] && [ "${errors:-0}" != 0 ]; then
    echo "idle protocol: $name: violation found, as it must be"
  else
    echo "idle protocol: $name: UNEXPECTED (expected $expect)" >&2
    echo "$out" >&2
    return 1
  fi
}

check ok
check fail -DRECHECK_ONLY_LAST_SEARCHER
check fail -DRETIRE_WITHOUT_RECHECK
check fail -DRELAXED_LOCAL_PUSH
