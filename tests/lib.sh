# lib.sh — helpers for the integration tests (sourced). Each test prints TAP
# lines ("ok N - ...", "not ok N - ...") that scripts/run-tests.sh counts.
# Processes started with start_bg are killed on exit; only loopback is used.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-build}
PROMLAB=${PROMLAB:-$ROOT/$BUILD/asan/bin/promlab}
TMP=$(mktemp -d /tmp/promlab-it.XXXXXX)
_n=0
_pids=()
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}

cleanup() {
  for p in "${_pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null; done
  sleep 0.2
  for p in "${_pids[@]:-}"; do [ -n "$p" ] && kill -9 "$p" 2>/dev/null; done
  [ -n "${KEEP_TMP:-}" ] || rm -rf "$TMP"
}
trap cleanup EXIT

ok()     { _n=$((_n + 1)); echo "ok $_n - $*"; }
not_ok() { _n=$((_n + 1)); echo "not ok $_n - $*"; }
# check DESCRIPTION COMMAND...: ok if the command succeeds.
check()  { local d=$1; shift; if "$@"; then ok "$d"; else not_ok "$d"; fi; }

# A free TCP port on 127.0.0.1 (the kernel picks; we release it at once).
free_port() {
  local p
  for _ in $(seq 1 50); do
    p=$(( (RANDOM % 20000) + 30000 ))
    if ! ss -ltn "sport = :$p" 2>/dev/null | grep -q LISTEN; then echo "$p"; return; fi
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
