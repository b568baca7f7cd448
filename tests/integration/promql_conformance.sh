#!/usr/bin/env bash
# PromQL conformance: `promlab tool promqltest` over the project's own cases
# (impl/tests/promql) and, when present, Prometheus's promqltest files in
# ../shared/conformance/promql. Native-histogram evals are skipped; nothing
# else may be, and nothing may fail.
source "$(dirname "$0")/../lib.sh"
PROMLAB_REL=${PROMLAB_REL:-$ROOT/$BUILD/bin/promlab}

run_dir() { # name dir
  local out="$TMP/$1.out"
  "$PROMLAB_REL" tool promqltest "$2" >"$out" 2>&1
  local rc=$?
  local summary; summary=$(tail -n 1 "$out")
  local passed failed
  passed=$(echo "$summary" | awk '{print $1}'); failed=$(echo "$summary" | awk '{print $3}')
  check "$1: exit status 0 ($summary)" [ "$rc" -eq 0 ]
  check "$1: no eval failed" [ "${failed:-1}" = "0" ]
  check "$1: evals ran" [ "${passed:-0}" -gt 0 ]
  grep -E '^[^ ]+:[0-9]+: ' "$out" | head -20 | sed 's/^/# /'
}

run_dir own-cases "$ROOT/impl/tests/promql"
SHARED=${PROMQL_CONFORMANCE_DIR:-$ROOT/../shared/conformance/promql}
if [ -d "$SHARED" ]; then
  run_dir prometheus-v3 "$SHARED"
  n=$(tail -n 1 "$TMP/prometheus-v3.out" | awk '{print $1}')
  check "prometheus-v3: every non-histogram eval passes (800 expected, got $n)" [ "${n:-0}" -ge 800 ]
fi
