#!/usr/bin/env bash
# Labs 2-4 run natively by promlab-lab, each from a copy in a temp dir (so
# .data/ lands there), on the labs' own ports: every check must pass, and
# nothing may be left running. Then lab 2 with honor_labels switched off on
# purpose: the check that proves honor_labels must fail (and only checks that
# depend on it). Lab 1 has its own test (lab_phase1.sh).
# The servers are the ASan build ($PROMLAB); the runner and promlab-loadgen
# are the release builds.
source "$(dirname "$0")/../lib.sh"

LAB_BIN=${LAB_BIN:-$ROOT/$BUILD/bin/promlab-lab}
export PROMLAB_BIN=$PROMLAB
if [ ! -x "$LAB_BIN" ] || [ ! -x "$PROMLAB_BIN" ] || [ ! -x "$ROOT/$BUILD/bin/promlab-loadgen" ]; then
  not_ok "binaries built ($LAB_BIN, $PROMLAB_BIN, promlab-loadgen)"; exit 1
fi

PORTS="9090 9091 9092 9093 9094 9100 9101 9102 10902"
ports_free() { local p; for p in $PORTS; do ss -ltn "sport = :$p" | grep -q LISTEN && return 1; done; return 0; }
if ! ports_free; then
  not_ok "the labs' ports are free ($PORTS): stop what listens there"; exit 1
fi
no_sanitizer_reports() { ! grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error' "$1"/.data/logs/*.log; }

# run_lab N: copies labs/phaseN to $TMP/phaseN, runs it, reports each check as a TAP line.
run_lab() {
  local n=$1 dir=$TMP/phase$1 out=$TMP/phase$1.out rc
  rm -rf "$dir"; cp -r "$ROOT/labs/phase$n" "$dir"; rm -rf "$dir/.data"
  "$LAB_BIN" run "$dir" >"$out" 2>&1; rc=$?
  while IFS= read -r line; do
    case $line in
      "ok   "*) ok "lab $n: ${line#ok   }" ;;
      "FAIL "*) not_ok "lab $n: ${line#FAIL }" ;;
    esac
  done <"$out"
  check "lab $n: runner exits 0 and prints its summary" sh -c "[ $rc -eq 0 ] && grep -qE '^[0-9]+ passed, 0 failed$' '$out'"
  check "lab $n: every service stopped, every port free" wait_for 10 ports_free
  check "lab $n: no sanitizer reports in the services' logs" no_sanitizer_reports "$dir"
  [ $rc -eq 0 ] || sed 's/^/    # /' "$out" | tail -30
}

run_lab 2
run_lab 3
run_lab 4

# Broken on purpose: lab 2 without honor_labels. The federated series then
# carry the main server's job="federate" and the leaves' job moves to
# exported_job, so the honor_labels checks fail while federation itself works.
B=$TMP/phase2-broken
cp -r "$ROOT/labs/phase2" "$B"; rm -rf "$B/.data"
sed -i 's/^    honor_labels: true$/    honor_labels: false/' "$B/prometheus-main.yml"
"$LAB_BIN" run "$B" >"$TMP/broken.out" 2>&1; rc=$?
check "broken lab 2 (honor_labels: false): the runner exits 1" [ "$rc" -eq 1 ]
check "broken lab 2: the honor_labels check fails" \
  grep -q '^FAIL honor_labels keeps the leaves. job label' "$TMP/broken.out"
check "broken lab 2: exported_job appears (the other honor_labels check fails)" \
  grep -q '^FAIL honor_labels means no exported_job' "$TMP/broken.out"
check "broken lab 2: federation itself still works (every env arrives)" \
  grep -q '^ok   one view over dev, staging and prod' "$TMP/broken.out"
check "broken lab 2: everything stopped" wait_for 10 ports_free
