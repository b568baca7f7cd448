#!/usr/bin/env bash
# Runs every unit test binary given as arguments (cmocka, TAP output) and every
# integration test under tests/integration/*.sh, then prints one summary line:
#   N passed, N failed
# Exit status is non-zero if anything failed or a suite crashed.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export BUILD
pass=0; fail=0
logdir=$BUILD/test-logs; mkdir -p "$logdir"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

count() { # file -> sets p f
  p=$(grep -cE '^ok [0-9]+' "$1" || true)
  f=$(grep -cE '^not ok [0-9]+' "$1" || true)
}

run_suite() { # name, command...
  local name=$1; shift
  local log="$logdir/$name.log"
  local t0=$SECONDS
  "$@" >"$log" 2>&1
  local rc=$?
  count "$log"
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    f=1  # crashed or failed without a TAP line: count the suite as one failure
    echo "not ok - $name exited with status $rc" >>"$log"
  fi
  pass=$((pass + p)); fail=$((fail + f))
  printf '%-40s %4d passed %4d failed  (%ds)\n' "$name" "$p" "$f" $((SECONDS - t0))
  if [ "$f" -ne 0 ]; then
    grep -E '^not ok|^# |ERROR|Sanitizer|runtime error' "$log" | head -120 | sed 's/^/    /'
  fi
}

for t in "$@"; do
  CMOCKA_MESSAGE_OUTPUT=TAP run_suite "$(basename "$t")" "$t"
done
for t in tests/integration/*.sh; do
  [ -e "$t" ] || continue
  run_suite "$(basename "$t" .sh)" bash "$t"
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
