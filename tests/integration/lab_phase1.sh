#!/usr/bin/env bash
# Lab 1 run natively by promlab-lab: the checks pass on the real stack
# (promlab server + Debian's node_exporter), everything is stopped afterwards,
# and a check fails when the feature behind it is broken on purpose.
#
# Isolation: the lab is copied to a temp dir and its ports (9090, 9100) are
# rewritten to free ones, so a demo or a lab already running on the usual
# ports is never touched. The server is the ASan build ($PROMLAB); the
# runner is the release build next to the release promlab.
source "$(dirname "$0")/../lib.sh"

LAB_BIN=${LAB_BIN:-$ROOT/$BUILD/bin/promlab-lab}
export PROMLAB_BIN=$PROMLAB
if [ ! -x "$LAB_BIN" ] || [ ! -x "$PROMLAB_BIN" ]; then
  not_ok "binaries built ($LAB_BIN, $PROMLAB_BIN)"; exit 1
fi

# copy_lab DIR: lab 1 in DIR with free ports; sets P_PORT NE_PORT.
copy_lab() {
  local dir=$1
  P_PORT=$(free_port); NE_PORT=$(free_port)
  while [ "$NE_PORT" = "$P_PORT" ]; do NE_PORT=$(free_port); done
  mkdir -p "$dir"
  cp -r "$ROOT/labs/phase1/compose.yml" "$ROOT/labs/phase1/prometheus.yml" "$ROOT/labs/phase1/checks.yml" \
    "$ROOT/labs/phase1/grafana" "$dir/"
  # Through placeholders: a free port may itself contain 9100 (e.g. 39100).
  sed -i -e "s/9090/@P_PORT@/g" -e "s/9100/@NE_PORT@/g" -e "s/@P_PORT@/$P_PORT/g" -e "s/@NE_PORT@/$NE_PORT/g" "$dir/compose.yml" "$dir/prometheus.yml" "$dir/checks.yml" \
    "$dir/grafana/provisioning/datasources/promlab.yml"
}

port_free() { ! ss -ltn "sport = :$1" | grep -q LISTEN; }
# The pids the runner reported ("up   name (pid N, ...)") are all gone.
pids_gone() {
  local p
  for p in $(sed -nE 's/^up   [^ ]+ \(pid ([0-9]+).*/\1/p' "$1"); do
    kill -0 "$p" 2>/dev/null && return 1
  done
  return 0
}
no_sanitizer_reports() { ! grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error' "$1"; }
# all_stopped RUN_OUTPUT: reported pids gone and both lab ports free.
all_stopped() { pids_gone "$1" && port_free "$P_PORT" && port_free "$NE_PORT"; }
refused() { [ "$1" -ne 0 ] && grep -q "already running" "$2"; }
passed_all() { [ "$1" -eq 0 ] && grep -qE "^[1-9][0-9]* passed, 0 failed\$" "$2"; }

# 1. The lab as shipped passes.
L=$TMP/phase1; copy_lab "$L"
t0=$SECONDS
"$LAB_BIN" run "$L" >"$TMP/run.out" 2>&1; rc=$?
sed 's/^/# /' "$TMP/run.out"
check "run labs/phase1: exit status 0" [ "$rc" -eq 0 ]
check "run labs/phase1: summary says 0 failed" grep -qE '^[1-9][0-9]* passed, 0 failed$' "$TMP/run.out"
check "run labs/phase1: no FAIL line" sh -c "! grep -q '^FAIL' '$TMP/run.out'"
check "run labs/phase1: grafana is skipped natively with a note" grep -q '^skip grafana: ' "$TMP/run.out"
check "run labs/phase1: finished in under 60 s ($((SECONDS - t0)) s)" [ $((SECONDS - t0)) -lt 60 ]
check "afterwards: no service process left" pids_gone "$TMP/run.out"
check "afterwards: server port $P_PORT not bound" port_free "$P_PORT"
check "afterwards: node_exporter port $NE_PORT not bound" port_free "$NE_PORT"
check "afterwards: state.json removed" [ ! -e "$L/.data/state.json" ]
check "service logs in .data/logs" sh -c "[ -s '$L/.data/logs/prometheus.log' ] && [ -s '$L/.data/logs/node-exporter.log' ]"
check "the named volume prometheus-data holds the TSDB (WAL)" sh -c "ls '$L/.data/prometheus-data/wal/' | grep -q '^0'"
check "the bind-mounted config was used (host path in the server log)" grep -q "$L/prometheus.yml" "$L/.data/logs/prometheus.log"
check "no sanitizer reports in the server log" no_sanitizer_reports "$L/.data/logs/prometheus.log"

# 2. up / check / down as separate invocations, with state in .data/state.json.
"$LAB_BIN" up "$L" >"$TMP/up.out" 2>&1; rc=$?
check "up: exit status 0" [ "$rc" -eq 0 ]
check "up: state.json lists both services" \
  [ "$(jq '[.services[].name] | sort | join(",")' -r "$L/.data/state.json" 2>/dev/null)" = "node-exporter,prometheus" ]
"$LAB_BIN" up "$L" >"$TMP/up2.out" 2>&1; rc=$?
check "a second up is refused while the lab runs" refused "$rc" "$TMP/up2.out"
"$LAB_BIN" check "$L" >"$TMP/check.out" 2>&1; rc=$?
check "check against the running lab: exit 0, 0 failed" passed_all "$rc" "$TMP/check.out"
"$LAB_BIN" down "$L" >"$TMP/down.out" 2>&1; rc=$?
check "down: exit 0" [ "$rc" -eq 0 ]
check "down: no process left, ports free" all_stopped "$TMP/up.out"
check "down: state.json removed" [ ! -e "$L/.data/state.json" ]

# 3. Broken on purpose: the node job scrapes a dead port. The node checks fail,
#    the run exits 1, and the lab is still torn down. (Retry windows shortened.)
B=$TMP/broken-node; copy_lab "$B"
DEAD=$(free_port)
sed -i "s/localhost:$NE_PORT/localhost:$DEAD/" "$B/prometheus.yml"
sed -i -E 's/within: [0-9]+s/within: 6s/' "$B/checks.yml"
"$LAB_BIN" run "$B" >"$TMP/broken-node.out" 2>&1; rc=$?
sed 's/^/# /' "$TMP/broken-node.out"
check "dead node target: exit status 1" [ "$rc" -eq 1 ]
check "dead node target: FAIL line for up{job=\"node\"}" grep -qE '^FAIL the server scrapes node_exporter.*value 0, want == 1' "$TMP/broken-node.out"
check "dead node target: FAIL line for the targets page" grep -qE '^FAIL /api/v1/targets reports every target healthy: got "down", want "up"' "$TMP/broken-node.out"
check "dead node target: the self-scrape check still passes" grep -q '^ok   the server scrapes itself' "$TMP/broken-node.out"
check "dead node target: summary counts the failures" grep -qE '^[0-9]+ passed, [1-9][0-9]* failed$' "$TMP/broken-node.out"
check "dead node target: everything stopped" all_stopped "$TMP/broken-node.out"

# 4. Broken on purpose: no --web.enable-lifecycle, so the reload check fails.
R=$TMP/broken-reload; copy_lab "$R"
sed -i '/--web.enable-lifecycle/d' "$R/compose.yml"
sed -i -E 's/within: [0-9]+s/within: 6s/' "$R/checks.yml"
"$LAB_BIN" run "$R" >"$TMP/broken-reload.out" 2>&1; rc=$?
check "no lifecycle flag: exit status 1" [ "$rc" -eq 1 ]
check "no lifecycle flag: FAIL line for the reload" grep -qE '^FAIL a config reload is accepted.*HTTP [0-9]+, want 200' "$TMP/broken-reload.out"
check "no lifecycle flag: everything stopped" all_stopped "$TMP/broken-reload.out"

# 5. A service that cannot start: the runner says which, stops the others, exits 1.
S=$TMP/broken-start; copy_lab "$S"
sed -i "s/--web.listen-address=127.0.0.1:$P_PORT/--web.listen-address=127.0.0.1:$P_PORT\n      - --no-such-flag/" "$S/compose.yml"
"$LAB_BIN" run "$S" >"$TMP/broken-start.out" 2>&1; rc=$?
check "server refuses to start: exit status 1" [ "$rc" -eq 1 ]
check "server refuses to start: the error names the service and its log" \
  grep -qE 'service prometheus exited with status [0-9]+ \(see .*/logs/prometheus.log\)' "$TMP/broken-start.out"
check "server refuses to start: node_exporter stopped too" all_stopped "$TMP/broken-start.out"

# 6. SIGTERM to the runner mid-run: it stops the lab before exiting.
T=$TMP/term; copy_lab "$T"
"$LAB_BIN" run "$T" >"$TMP/term.out" 2>&1 &
RP=$!
wait_for 30 grep -q '^ok ' "$TMP/term.out"
kill -TERM "$RP"; wait "$RP"; rc=$?
check "SIGTERM mid-run: runner exits non-zero" [ "$rc" -ne 0 ]
check "SIGTERM mid-run: no process left, ports free" all_stopped "$TMP/term.out"
