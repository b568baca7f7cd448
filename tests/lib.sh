# lib.sh — helpers for the integration tests (sourced). Each test prints TAP
# lines ("ok N - ...", "not ok N - ...") that scripts/run-tests.sh counts.
# Processes started with start_bg are killed on exit; only loopback is used.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-build}
PROMLAB=${PROMLAB:-$ROOT/$BUILD/asan/bin/promlab}
TMP=$(mktemp -d /tmp/promlab-it.XXXXXX)
_n=0
_failed=0
_pids=()
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}

cleanup() {
  # A failed check leaves evidence in the suite log: the tail of every log the
  # test wrote, as TAP comments (run-tests.sh prints them under the failure).
  if [ "$_failed" -gt 0 ]; then
    for l in "$TMP"/*.log; do
      [ -s "$l" ] || continue
      echo "# --- tail of $(basename "$l")"
      tail -n 8 "$l" | sed "s/^/#   /"
    done
  fi
  for p in "${_pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null; done
  sleep 0.2
  for p in "${_pids[@]:-}"; do [ -n "$p" ] && kill -9 "$p" 2>/dev/null; done
  [ -n "${KEEP_TMP:-}" ] || rm -rf "$TMP"
}
trap cleanup EXIT

ok()     { _n=$((_n + 1)); echo "ok $_n - $*"; }
not_ok() { _n=$((_n + 1)); _failed=$((_failed + 1)); echo "not ok $_n - $*"; }
# check DESCRIPTION COMMAND...: ok if the command succeeds.
check()  { local d=$1; shift; if "$@"; then ok "$d"; else not_ok "$d"; fi; }

# A free TCP port on 127.0.0.1 for a server to bind. Drawn from 20000-32767,
# below Linux's ephemeral range (32768-60999) so no client connection can hold
# it, checked against every socket (not only listeners), and never handed out
# twice within one test (free_port runs in $(...) subshells: the ports handed
# out are kept in a file).
free_port() {
  local p
  for _ in $(seq 1 100); do
    p=$(( (RANDOM % 12768) + 20000 ))
    grep -qx "$p" "$TMP/.ports" 2>/dev/null && continue
    if ! ss -Htan "( sport = :$p )" 2>/dev/null | grep -q .; then
      echo "$p" >>"$TMP/.ports"; echo "$p"; return
    fi
  done
  echo 0
}

start_bg() { # logfile cmd... ; sets LAST_PID
  local log=$1; shift
  "$@" >"$log" 2>&1 &
  LAST_PID=$!
  _pids+=("$LAST_PID")
}

# wait_for SECONDS COMMAND...: retry every 0.25 s until the command succeeds.
wait_for() {
  local deadline=$((SECONDS + $1)); shift
  while [ $SECONDS -lt $deadline ]; do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.25
  done
  return 1
}

http_ok() { curl -fsS -o /dev/null "$1"; }

# query URL EXPR [JQ]: runs an instant query, prints the jq projection of the answer.
query() {
  curl -fsS --get --data-urlencode "query=$2" "$1/api/v1/query" | jq -r "${3:-.}"
}

# body_has URL REGEX: the response body has a line matching REGEX.
body_has() { curl -fsS "$1" >"$TMP/.body" 2>/dev/null && grep -qE "$2" "$TMP/.body"; }
