#!/usr/bin/env bash
# Crash safety of the WAL: the server (ASan build) ingests from node_exporter
# (2000 textfile series plus node_time_seconds, every 300 ms) and is killed
# with SIGKILL at random moments, some during start-up, several times. After
# each kill it must start again (after some kills garbage is appended to the
# newest segment, as a torn page write would leave, and start-up must repair
# it), and at the end every sample it answered before a kill must be in the
# data dir (read by promtool tsdb dump, so the
# repaired WAL is also one the real Prometheus reads).
source "$(dirname "$0")/../lib.sh"

NE=$(command -v prometheus-node-exporter || echo /usr/bin/prometheus-node-exporter)
PROMTOOL=$(command -v promtool || echo /usr/bin/promtool)
NE_PORT=$(free_port)
KILLS=${WAL_CRASH_KILLS:-6}

mkdir -p "$TMP/textfile"
awk 'BEGIN { print "# TYPE crash_load gauge"; for (i = 0; i < 2000; i++) printf "crash_load{i=\"%d\",pad=\"some-longer-label-value-%d\"} %d\n", i, i % 7, i }' \
  >"$TMP/textfile/load.prom"
start_bg "$TMP/ne.log" "$NE" --web.listen-address=127.0.0.1:$NE_PORT --collector.disable-defaults \
  --collector.textfile --collector.textfile.directory="$TMP/textfile" --collector.time
check "node_exporter serves 2000 series" wait_for 15 body_has http://127.0.0.1:$NE_PORT/metrics '^crash_load\{i="1999"'

cat >"$TMP/p.yml" <<YML
global:
  scrape_interval: 300ms
  scrape_timeout: 300ms
scrape_configs:
  - job_name: node
    static_configs:
      - targets: ['127.0.0.1:$NE_PORT']
YML

query_value() { # url expr [time] -> value or empty
  curl -fsS --get --data-urlencode "query=$2" ${3:+--data-urlencode "time=$3"} "$1/api/v1/query" 2>/dev/null |
    jq -r '.data.result[0].value[1] // empty'
}
# A node_time_seconds value newer than $1 (so it was scraped by this run).
newer_than() { local v; v=$(query_value "$URL" 'node_time_seconds'); [ -n "$v" ] && awk -v a="$v" -v b="$1" 'BEGIN{exit !(a > b)}'; }

seen=()   # node_time_seconds values answered before a kill
garbage=0 # segments that got garbage appended after a kill
starts=0; start_fail=0
prev=0
t_begin=$SECONDS
for i in $(seq 1 "$KILLS"); do
  PORT=$(free_port); URL=http://127.0.0.1:$PORT
  start_bg "$TMP/server.$i.log" "$PROMLAB" server --config.file="$TMP/p.yml" --storage.tsdb.path="$TMP/data" \
    --web.listen-address=127.0.0.1:$PORT --storage.tsdb.wal-compression-type=snappy \
    --storage.tsdb.wal-segment-size=256KB
  pid=$LAST_PID
  if [ $((i % 3)) -eq 0 ]; then
    # Killed during start-up (replay, repair, first scrapes).
    sleep "0.$((RANDOM % 4))$((RANDOM % 10))"
    kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
    continue
  fi
  if ! wait_for 30 http_ok "$URL/-/ready"; then
    start_fail=$((start_fail + 1)); kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; continue
  fi
  starts=$((starts + 1))
  # Whatever survived the previous kill is there: asked at the time it was
  # asked before the kill, the replayed head gives the same answer.
  if [ "$prev" != 0 ]; then
    v=$(query_value "$URL" 'node_time_seconds' "$prev_at")
    check "run $i: after replay, node_time_seconds at $prev_at is still $prev" [ "$v" = "$prev" ]
  fi
  wait_for 10 newer_than "$prev"
  sleep "$((RANDOM % 2)).$((RANDOM % 10))"
  v=
  for _ in 1 2 3 4 5; do
    at=$(date +%s.%N | cut -c1-14)
    v=$(query_value "$URL" 'node_time_seconds' "$at"); [ -n "$v" ] && break; sleep 0.2
  done
  echo "# run $i: node_time_seconds=${v:-none} before the kill"
  if [ -n "$v" ]; then seen+=("$v"); prev=$v; prev_at=$at; fi
  sleep 0.3 # the commit that produced v finished long ago; later ones may be torn
  kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
  if [ $((i % 2)) -eq 0 ]; then
    # As if the machine died mid page write: garbage after the last record.
    last=$(ls "$TMP/data/wal" | grep -E '^[0-9]{8}$' | sort | tail -1)
    head -c 300 /dev/urandom >>"$TMP/data/wal/$last"
    garbage=$((garbage + 1))
  fi
done
check "the server started after every kill ($starts starts, $start_fail failures)" [ "$start_fail" -eq 0 ]

# A last, clean run: it must start, and it is stopped gracefully.
PORT=$(free_port); URL=http://127.0.0.1:$PORT
start_bg "$TMP/server.final.log" "$PROMLAB" server --config.file="$TMP/p.yml" --storage.tsdb.path="$TMP/data" \
  --web.listen-address=127.0.0.1:$PORT --storage.tsdb.wal-compression-type=snappy --storage.tsdb.wal-segment-size=256KB
pid=$LAST_PID
check "the server starts after $KILLS kills" wait_for 30 http_ok "$URL/-/ready"
corr=$(curl -fsS "$URL/metrics" | awk '/^prometheus_tsdb_wal_corruptions_total /{print $2}')
repairs=$(grep -h 'WAL repaired' "$TMP"/server.*.log | wc -l)
echo "# last start: prometheus_tsdb_wal_corruptions_total=$corr; $repairs repairs over all starts"
check "each garbage tail was repaired on the next start ($garbage tails, $repairs repairs)" [ "$repairs" -ge "$garbage" ]
check "every start replayed the WAL" [ "$(grep -l 'WAL replay completed' "$TMP"/server.*.log | wc -l)" -ge $((starts + 1)) ]
check "no sanitizer reports in any run" sh -c "! grep -qE 'ERROR: AddressSanitizer|runtime error' '$TMP'/server.*.log"
kill -TERM "$pid"; wait "$pid"; rc=$?
check "the last run exits 0" [ "$rc" -eq 0 ]

"$PROMTOOL" tsdb dump "$TMP/data" >"$TMP/dump" 2>"$TMP/dump.err"
check "promtool tsdb dump reads the repaired data dir" [ $? -eq 0 ]
grep '^{__name__="node_time_seconds"' "$TMP/dump" | awk '{print $(NF-1)}' >"$TMP/times"
missing=0
for v in "${seen[@]}"; do
  awk -v want="$v" '($1 + 0) == (want + 0) {found = 1} END {exit !found}' "$TMP/times" || missing=$((missing + 1))
done
check "every node_time_seconds value answered before a kill survived (${#seen[@]} values, $missing missing)" \
  [ "${#seen[@]}" -ge 2 -a "$missing" -eq 0 ]
check "node_time_seconds samples in time order without duplicates" \
  sh -c "grep '^{__name__=\"node_time_seconds\"' '$TMP/dump' | awk '{print \$NF}' | sort -c -n -u"
n_series=$(grep '^{__name__="crash_load"' "$TMP/dump" | sed 's/ [^ ]* [^ ]*$//' | sort -u | wc -l)
check "all 2000 crash_load series are in the data dir ($n_series)" [ "$n_series" -eq 2000 ]
echo "# $((SECONDS - t_begin)) s for $KILLS kills"
