#!/usr/bin/env bash
# Labs 2-4 run natively by promlab-lab, each from a copy in a temp dir (so
# .data/ lands there), on the labs' own ports: every check must pass, and
# nothing may be left running. Lab 1 has its own test (lab_phase1.sh).
#
# Broken on purpose: each lab again with its lesson's mistake, which must
# fail exactly the checks about that lesson while the rest still pass:
#   lab 2 with honor_labels: false;
#   lab 3 with query missing --query.replica-label, with both replicas
#     carrying the same external labels, and with query not asking the store;
#   lab 4 with the tuned server missing its labeldrop cure, and with server
#     1's guard job missing sample_limit.
# Lab 3's downsampling exercise (history backfilled into the running lab's
# bucket) runs too, with its own checks file, and again with the compactor's
# downsampling disabled.
# The broken runs happen at the same time as the real ones, each moved to
# free ports (the labs mostly wait for time to pass, so running them side by
# side takes little more than the longest alone).
#
# The servers are the ASan build ($PROMLAB); the runner and promlab-loadgen
# are the release builds.
source "$(dirname "$0")/../lib.sh"

LAB_BIN=${LAB_BIN:-$ROOT/$BUILD/bin/promlab-lab}
export PROMLAB_BIN=$PROMLAB
if [ ! -x "$LAB_BIN" ] || [ ! -x "$PROMLAB_BIN" ] || [ ! -x "$ROOT/$BUILD/bin/promlab-loadgen" ]; then
  not_ok "binaries built ($LAB_BIN, $PROMLAB_BIN, promlab-loadgen)"; exit 1
fi

# Every port any of labs 2-4 listens on.
PORTS="9090 9091 9092 9093 9094 9100 9101 9102 10901 10902 10904 10905 10906 10908 10911 10912"
ports_free() { local p; for p in ${1:-$PORTS}; do ss -ltn "sport = :$p" | grep -q LISTEN && return 1; done; return 0; }
if ! ports_free; then
  not_ok "the labs' ports are free ($PORTS): stop what listens there"; exit 1
fi
no_sanitizer_reports() { ! grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error' "$1"/.data/logs/*.log; }

# copy_lab N DIR: labs/phaseN copied to DIR without its .data.
copy_lab() { rm -rf "$2"; cp -r "$ROOT/labs/phase$1" "$2"; rm -rf "$2/.data"; }

# relocate DIR: every lab port in DIR's yml files moved to a free port (through
# placeholders, so a new port never gets rewritten again); the new ports are
# listed in DIR/.ports.
relocate() {
  local dir=$1 p np exprs=() back=()
  : >"$dir/.ports"
  for p in $PORTS; do
    np=$(free_port)
    exprs+=(-e "s/\\b$p\\b/@P$p@/g"); back+=(-e "s/@P$p@/$np/g")
    echo "$np" >>"$dir/.ports"
  done
  sed -i "${exprs[@]}" "${back[@]}" "$dir"/*.yml
}

# run_lab N: copies labs/phaseN to $TMP/phaseN, runs it, reports each check as a TAP line.
run_lab() {
  local n=$1 dir=$TMP/phase$1 out=$TMP/phase$1.out rc t0=$SECONDS
  copy_lab "$n" "$dir"
  "$LAB_BIN" run "$dir" >"$out" 2>&1; rc=$?
  while IFS= read -r line; do
    case $line in
      "ok   "*) ok "lab $n: ${line#ok   }" ;;
      "FAIL "*) not_ok "lab $n: ${line#FAIL }" ;;
    esac
  done <"$out"
  check "lab $n: runner exits 0 and prints its summary ($((SECONDS - t0)) s)" \
    sh -c "[ $rc -eq 0 ] && grep -qE '^[0-9]+ passed, 0 failed$' '$out'"
  check "lab $n: every service stopped, every port free" wait_for 10 ports_free
  check "lab $n: no sanitizer reports in the services' logs" no_sanitizer_reports "$dir"
  [ $rc -eq 0 ] || sed 's/^/    # /' "$out" | tail -30
}

# ---- broken on purpose, beside the real runs, on free ports --------------------
# break_lab NAME N EDIT...: labs/phaseN as $TMP/NAME, edited with the sed EDIT
# arguments (FILE:EXPR pairs), moved to free ports, run; output in
# $TMP/NAME.out, exit status in $TMP/NAME.rc, seconds taken in $TMP/NAME.secs.
break_lab() {
  local name=$1 n=$2 dir=$TMP/$1 t0=$SECONDS e; shift 2
  copy_lab "$n" "$dir"
  for e in "$@"; do sed -i "${e#*:}" "$dir/${e%%:*}"; done
  relocate "$dir"
  "$LAB_BIN" run "$dir" >"$TMP/$name.out" 2>&1
  echo $? >"$TMP/$name.rc"
  echo $((SECONDS - t0)) >"$TMP/$name.secs"
}
# Each broken lab runs in its own background lane (the main shell collects
# their outputs afterwards, so the TAP numbering stays in one place).
LANES=()
# Lab 2 without honor_labels: the federated series carry the main server's
# job="federate" and the leaves' job moves to exported_job.
break_lab broken2 2 'prometheus-main.yml:s/^    honor_labels: true$/    honor_labels: false/' &
LANES+=($!)
# Lab 3, query without the replica label: every series twice, nothing merged.
break_lab broken3-noreplica 3 'compose.yml:/^      - --query.replica-label=replica$/d' &
LANES+=($!)
# Lab 3, both replicas labelled replica=a: query cannot tell them apart, the
# bucket holds two servers' blocks under one name and the compactor halts.
break_lab broken3-samelabels 3 'prometheus-b.yml:s/^    replica: b$/    replica: a/' &
LANES+=($!)
# Lab 3, query not pointed at the store: history ends with local retention.
break_lab broken3-nostore 3 'compose.yml:/^      - --endpoint=http:\/\/127.0.0.1:10906$/d' &
LANES+=($!)
# Lab 4, the tuned server without its cure: user_id reaches its TSDB.
break_lab broken4 4 'prometheus-tuned.yml:/^    metric_relabel_configs:$/,/^        regex: user_id$/d' &
LANES+=($!)
# Lab 4, server 1's guard job without sample_limit: the exploded scrape is stored.
break_lab broken4-nolimit 4 'prometheus.yml:/^    sample_limit: 1000$/d' &
LANES+=($!)

# Lab 3's exercise 1 (downsampling): the lab up, three days of history
# backfilled and uploaded into its bucket, checks-downsampling.yml, down.
# exercise_lab NAME EDIT...: as break_lab; results in $TMP/NAME.{out,rc,secs,setup}.
exercise_lab() {
  local name=$1 dir=$TMP/$1 t0=$SECONDS e; shift
  copy_lab 3 "$dir"
  for e in "$@"; do sed -i "${e#*:}" "$dir/${e%%:*}"; done
  relocate "$dir"
  {
    "$LAB_BIN" up "$dir" &&
      "$ROOT/$BUILD/bin/promlab-loadgen" backfill --output-blocks="$dir/.data/history" --days=3 \
        --gauge-metric-count=2 --series-count=4 --label-count=1 &&
      (cd "$dir" && "$PROMLAB_BIN" tool bucket upload-blocks --objstore.config-file=bucket_config.yaml \
        --path=.data/history --label=cluster=lab --label=replica=history)
  } >"$TMP/$name.setup" 2>&1
  "$LAB_BIN" --checks="$dir/checks-downsampling.yml" check "$dir" >"$TMP/$name.out" 2>&1
  echo $? >"$TMP/$name.rc"
  "$LAB_BIN" down "$dir" >>"$TMP/$name.setup" 2>&1
  echo $((SECONDS - t0)) >"$TMP/$name.secs"
}
exercise_lab exercise1 &
LANES+=($!)
# ...and broken: the compactor started with --downsampling.disable.
exercise_lab exercise1-nodownsampling 'compose.yml:s/^      - --consistency-delay=0s$/&\n      - --downsampling.disable/' &
LANES+=($!)

t_lanes=$SECONDS
run_lab 2
run_lab 3
run_lab 4
t_main=$((SECONDS - t_lanes))
wait "${LANES[@]}"
ok "(timing) labs 2-4 took $t_main s; with the broken labs beside them $((SECONDS - t_lanes)) s"

# broken NAME DESCRIPTION: the variant's run ended with exit 1, everything
# stopped on its ports and its services logged no sanitizer report.
broken_ran() {
  local name=$1 desc=$2
  check "$desc: the runner exits 1 ($(cat "$TMP/$name.secs" 2>/dev/null) s)" [ "$(cat "$TMP/$name.rc" 2>/dev/null)" = 1 ]
  check "$desc: everything stopped" wait_for 10 ports_free "$(cat "$TMP/$name/.ports")"
  check "$desc: no sanitizer reports in the services' logs" no_sanitizer_reports "$TMP/$name"
  grep -E '^FAIL' "$TMP/$name.out" | sed 's/^/# /'
}
fails()  { grep -q "^FAIL $2" "$TMP/$1.out"; }
passes() { grep -q "^ok   $2" "$TMP/$1.out"; }
# failed_count NAME N: exactly N checks failed.
failed_count() { grep -qE "^[0-9]+ passed, $2 failed$" "$TMP/$1.out"; }

# The exercise's checks, one TAP line each.
while IFS= read -r line; do
  case $line in
    "ok   "*) ok "lab 3 exercise 1: ${line#ok   }" ;;
    "FAIL "*) not_ok "lab 3 exercise 1: ${line#FAIL }" ;;
  esac
done <"$TMP/exercise1.out"
check "lab 3 exercise 1: every check passed ($(cat "$TMP/exercise1.secs" 2>/dev/null) s)" \
  sh -c "[ \"$(cat "$TMP/exercise1.rc" 2>/dev/null)\" = 0 ] && grep -qE '^[0-9]+ passed, 0 failed$' '$TMP/exercise1.out'"
check "lab 3 exercise 1: everything stopped" wait_for 10 ports_free "$(cat "$TMP/exercise1/.ports")"
check "lab 3 exercise 1: no sanitizer reports in the services' logs" no_sanitizer_reports "$TMP/exercise1"
[ "$(cat "$TMP/exercise1.rc" 2>/dev/null)" = 0 ] || sed 's/^/    # /' "$TMP/exercise1.setup" "$TMP/exercise1.out" | tail -30

B="broken lab 2 (honor_labels: false)"
broken_ran broken2 "$B"
check "$B: the honor_labels check fails" fails broken2 'honor_labels keeps the leaves. job label'
check "$B: exported_job appears (the other honor_labels check fails)" fails broken2 'honor_labels means no exported_job'
check "$B: federation itself still works (every env arrives)" passes broken2 'one view over dev, staging and prod'

B="broken lab 3 (query without --query.replica-label)"
broken_ran broken3-noreplica "$B"
check "$B: each series appears twice through query" fails broken3-noreplica 'through query each series appears once'
check "$B: node_exporter's up twice" fails broken3-noreplica '...and node_exporter.s up once'
check "$B: the replica label stays in the answers" fails broken3-noreplica 'the replica label is gone from deduplicated answers'
check "$B: cluster=lab on 16 series, not 8" fails broken3-noreplica 'the other external labels stay'
check "$B: two series around the moment b stopped, b's ending there" fails broken3-noreplica 'across the moment b stopped'
check "$B: only those 5 checks fail" failed_count broken3-noreplica 5
check "$B: dedup=false still shows both replicas" passes broken3-noreplica 'dedup=false shows both replicas'
check "$B: shipping is unaffected (replica b's blocks in the bucket)" passes broken3-noreplica 'sidecar b ships'

B="broken lab 3 (both replicas labelled replica=a)"
broken_ran broken3-samelabels "$B"
check "$B: dedup=false cannot show two replicas" fails broken3-samelabels 'dedup=false shows both replicas'
check "$B: nor tell them apart by replica" fails broken3-samelabels 'dedup=false tells them apart by replica'
check "$B: no block in the bucket says replica=b" fails broken3-samelabels 'sidecar b ships replica b.s blocks'
check "$B: replica=a's history mixes two servers' samples (not what replica a answered)" \
  fails broken3-samelabels 'replica a.s samples at t0 through query equal'
check "$B: the compactor halts on the overlapping blocks" fails broken3-samelabels 'the compactor is not halted'
check "$B: no replica b in the bucket to fill the gap" fails broken3-samelabels 'replica b.s samples from before it stopped'
check "$B: only those 6 checks fail" failed_count broken3-samelabels 6
check "$B: the deduplicated view still looks right (which is why the mistake goes unnoticed)" \
  passes broken3-samelabels 'through query each series appears once'

B="broken lab 3 (query without the store endpoint)"
broken_ran broken3-nostore "$B"
check "$B: no answer at t0 once retention dropped it locally" fails broken3-nostore 'query still answers at t0'
check "$B: nor replica a's samples at t0" fails broken3-nostore 'replica a.s samples at t0 through query equal'
check "$B: nor replica b's last samples once b is gone" fails broken3-nostore 'replica b.s samples from before it stopped'
check "$B: and the merged series around b's stop has a gap (a's older samples were local only)" fails broken3-nostore 'across the moment b stopped'
check "$B: only those 4 checks fail" failed_count broken3-nostore 4
check "$B: the store itself serves the blocks (nobody asks it)" passes broken3-nostore 'the store serves the shipped blocks'

B="broken lab 4 (tuned server without labeldrop)"
broken_ran broken4 "$B"
check "$B: user_id reaches the tuned server" fails broken4 'the tuned server stores no user_id label'
check "$B: the cure does not cut the series" fails broken4 'the cure keeps under 10% of the series'
check "$B: the CardinalityExplosion alert is raised on the tuned server too" fails broken4 'the CardinalityExplosion alert stays quiet on the tuned server'
check "$B: only those 3 checks fail" failed_count broken4 3
check "$B: the explosion itself is still found on server 1" passes broken4 'the cardinality audit query names the culprit'
check "$B: the recording rules still work" passes broken4 'the API dashboard.s recording rule answers'

B="broken lab 4 (the guard job without sample_limit)"
broken_ran broken4-nolimit "$B"
check "$B: the exploded scrape is stored (up == 1)" fails broken4-nolimit 'the guard (sample_limit 1000) fails the exploded scrape'
check "$B: no scrape counted as over the limit" fails broken4-nolimit 'the failed scrapes are counted'
check "$B: only those 2 checks fail" failed_count broken4-nolimit 2
check "$B: the labeldrop cure on the tuned server still works" passes broken4-nolimit 'the cure keeps under 10% of the series'

B="lab 3 exercise 1 broken (compactor with --downsampling.disable)"
broken_ran exercise1-nodownsampling "$B"
check "$B: no 5m block" fails exercise1-nodownsampling 'a 2-day block is downsampled to 5m'
check "$B: no downsampling counted" fails exercise1-nodownsampling 'the downsampling is counted'
check "$B: only those 2 checks fail" failed_count exercise1-nodownsampling 2
check "$B: compaction itself still happens" passes exercise1-nodownsampling 'the compactor merges the 2h blocks'
