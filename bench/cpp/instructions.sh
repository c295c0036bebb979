#!/usr/bin/env bash
# Instructions per task under callgrind, for the tracked submit paths and
# fork-join: (count at 2N - count at N) / N, so start-up cancels out. The
# counts do not depend on how busy the machine is.
#
#   bench/cpp/instructions.sh [PROBE]     (default build/test/bench/cpp/dftracer_instruction_probe)
set -euo pipefail
probe="${1:-build/test/bench/cpp/dftracer_instruction_probe}"
count() {  # count MODE N -> total instructions
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$probe" "$1" "$2" 2>&1 >/dev/null |
    sed -n 's/.*Collected : *\([0-9]*\).*/\1/p'
}
per_task() {  # per_task MODE N
  local a b
  a=$(count "$1" "$2")
  b=$(count "$1" "$(( $2 * 2 ))")
  echo $(( (b - a) / $2 ))
}
echo "submit from outside, instructions per task: $(per_task external 20000)"
echo "submit from inside a task, instructions per task: $(per_task internal 20000)"
# fib(n+1) - fib(n) adds fib-calls(n-1) tasks: 2*fib(n)-1 calls for fib(n-1).
fa=$(count fib 18)
fb=$(count fib 20)
# calls(20) - calls(18) = (2*fib(21)-1) - (2*fib(19)-1) = 2*(10946-4181)
echo "fork-join fib, instructions per task: $(( (fb - fa) / (2 * (10946 - 4181)) ))"
