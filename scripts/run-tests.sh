#!/usr/bin/env bash
# Runs every unit test binary given as arguments (cmocka, TAP output) and every
# integration test under tests/integration/*.sh, then prints one summary line:
#   N passed, N failed
# Exit status is non-zero if anything failed or a suite crashed.
#
# Suites run TEST_JOBS at a time (default 3: most integration suites spend
# their time waiting for scrapes and compactions, not on the CPU). Suites that
# bind the labs' fixed ports (SERIAL below) run one after another in a single
# lane; the longest work starts first. One line per suite as it finishes; a
# failed suite's "not ok" lines and comments follow its line.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export BUILD
JOBS=${TEST_JOBS:-3}
logdir=$BUILD/test-logs; rm -rf "$logdir"; mkdir -p "$logdir"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# Integration suites on fixed ports (the labs' 9090...), run serially, first.
SERIAL="labs lab_phase1"
# Long suites next (seconds on an idle machine in brackets, for the order only).
LONG="tsdb_compaction federation loadgen" # [95] [10-125] [42]

count() { # file -> sets p f
  p=$(grep -cE '^ok [0-9]+' "$1" || true)
  f=$(grep -cE '^not ok [0-9]+' "$1" || true)
}

run_suite() { # name, command... ; prints its line, writes $logdir/name.result
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
  echo "$p $f" >"$logdir/$name.result"
  {
    printf '%-40s %4d passed %4d failed  (%ds)\n' "$name" "$p" "$f" $((SECONDS - t0))
    if [ "$f" -ne 0 ]; then
      grep -E '^not ok|^# |ERROR|Sanitizer|runtime error' "$log" | head -120 | sed 's/^/    /'
    fi
  } >"$logdir/$name.out"
  cat "$logdir/$name.out"
}

# A unit of work is one line: suite specs separated by spaces, run in order.
# A spec is u:PATH (unit test binary) or i:NAME (tests/integration/NAME.sh).
run_unit() {
  local spec
  for spec in $1; do
    case $spec in
      u:*) CMOCKA_MESSAGE_OUTPUT=TAP run_suite "$(basename "${spec#u:}")" "${spec#u:}" ;;
      i:*) run_suite "${spec#i:}" bash "tests/integration/${spec#i:}.sh" ;;
    esac
  done
}

# TEST_ONLY="name ..." limits the integration suites to those named (for a quick
# look at a few; make test runs them all).
wanted() { [ -z "${TEST_ONLY:-}" ] || case " $TEST_ONLY " in *" $1 "*) true ;; *) false ;; esac; }
units=()
serial=""
nint=0
for t in tests/integration/*.sh; do [ -e "$t" ] && wanted "$(basename "$t" .sh)" && nint=$((nint + 1)); done
for s in $SERIAL; do [ -e "tests/integration/$s.sh" ] && wanted "$s" && serial="$serial i:$s"; done
[ -n "$serial" ] && units+=("$serial")
for s in $LONG; do [ -e "tests/integration/$s.sh" ] && wanted "$s" && units+=("i:$s"); done
for t in tests/integration/*.sh; do
  [ -e "$t" ] || continue
  n=$(basename "$t" .sh)
  case " $SERIAL $LONG " in *" $n "*) continue ;; esac
  wanted "$n" || continue
  units+=("i:$n")
done
for t in "$@"; do units+=("u:$t"); done

running=0
for u in "${units[@]}"; do
  if [ "$running" -ge "$JOBS" ]; then wait -n; running=$((running - 1)); fi
  run_unit "$u" &
  running=$((running + 1))
done
wait

pass=0; fail=0; nres=0
for r in "$logdir"/*.result; do
  [ -e "$r" ] || continue
  read -r p f <"$r"
  pass=$((pass + p)); fail=$((fail + f)); nres=$((nres + 1))
done
# Every suite must have reported (a runner that lost one must not pass).
expected=$(( $# + nint ))
if [ "$nres" -ne "$expected" ]; then
  echo "not ok - $((expected - nres)) suite(s) left no result"
  fail=$((fail + expected - nres))
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
