#!/usr/bin/env bash
# The WAL both ways with the real thing (Debian's Prometheus 2.42 and promtool):
# - promlab writes a data dir (snappy, then no compression); `promtool tsdb dump`
#   reads it with the exact samples, and a real Prometheus started on it answers
#   the same values;
# - Prometheus writes a data dir; promlab replays it and answers its values.
# The target is node_exporter serving a textfile with known values.
source "$(dirname "$0")/../lib.sh"

NE=$(command -v prometheus-node-exporter || echo /usr/bin/prometheus-node-exporter)
PROM=$(command -v prometheus || echo /usr/bin/prometheus)
PROMTOOL=$(command -v promtool || echo /usr/bin/promtool)
NE_PORT=$(free_port)

mkdir -p "$TMP/textfile"
cat >"$TMP/textfile/wal.prom" <<'EOF'
# TYPE wal_test_value gauge
wal_test_value{k="a"} 42
wal_test_value{k="b"} -1.5e-300
wal_test_value{k="c"} +Inf
wal_test_value{k="d"} 123456789.125
EOF
start_bg "$TMP/ne.log" "$NE" --web.listen-address=127.0.0.1:$NE_PORT --collector.disable-defaults \
  --collector.textfile --collector.textfile.directory="$TMP/textfile" --collector.time
check "node_exporter serves the textfile" wait_for 15 body_has http://127.0.0.1:$NE_PORT/metrics '^wal_test_value\{k="d"\}'

write_config() { # file port
  cat >"$1" <<YML
global:
  scrape_interval: 300ms
  scrape_timeout: 300ms
scrape_configs:
  - job_name: node
    static_configs:
      - targets: ['127.0.0.1:$NE_PORT']
YML
}

# dump_lines DUMP SELECTOR-PREFIX: the dump lines of one series.
series_lines() { grep -F "$2 " "$1" || true; }

# promlab_ingest NAME FLAGS...: runs promlab until the node job has >= 5 scrapes, stops it cleanly.
promlab_ingest() {
  local name=$1; shift
  local port; port=$(free_port)
  write_config "$TMP/$name.yml" "$port"
  start_bg "$TMP/$name.log" "$PROMLAB" server --config.file="$TMP/$name.yml" --storage.tsdb.path="$TMP/$name" \
    --web.listen-address=127.0.0.1:$port "$@"
  local pid=$LAST_PID
  check "$name: promlab is ready" wait_for 20 http_ok http://127.0.0.1:$port/-/ready
  if [ "$name" = promlab-snappy ]; then
    # A second server on the same data dir is refused by the lock file.
    "$PROMLAB" server --config.file="$TMP/$name.yml" --storage.tsdb.path="$TMP/$name" \
      --web.listen-address=127.0.0.1:$(free_port) >"$TMP/second.log" 2>&1
    rc=$?
    check "a second server on the same dir exits 1" [ "$rc" -eq 1 ]
    check "its error names the lock" grep -q "opening storage failed: lock DB directory" "$TMP/second.log"
    check "the first server still holds the lock file" [ -e "$TMP/$name/lock" ]
  fi
  sleep 2.5
  kill -TERM "$pid"; wait "$pid"; local rc=$?
  check "$name: promlab exits 0" [ "$rc" -eq 0 ]
  check "$name: the lock file is gone after shutdown" [ ! -e "$TMP/$name/lock" ]
  check "$name: no sanitizer reports" sh -c "! grep -qE 'Sanitizer|runtime error' '$TMP/$name.log'"
}

for mode in snappy none; do
  if [ "$mode" = snappy ]; then
    promlab_ingest "promlab-$mode" --storage.tsdb.wal-compression-type=snappy
  else
    promlab_ingest "promlab-$mode" --storage.tsdb.wal-compression=false
  fi
  DIR=$TMP/promlab-$mode
  if [ "$mode" = snappy ]; then
    check "$mode: first WAL record carries the snappy flag" \
      [ "$(head -c1 "$DIR/wal/00000000" | od -An -tx1 | tr -d ' ')" = "09" ]
  else
    check "$mode: first WAL record is uncompressed" \
      [ "$(head -c1 "$DIR/wal/00000000" | od -An -tx1 | tr -d ' ')" = "01" ]
  fi
  "$PROMTOOL" tsdb dump "$DIR" >"$TMP/$mode.dump" 2>"$TMP/$mode.dump.err"
  check "$mode: promtool tsdb dump reads promlab's WAL" [ $? -eq 0 ]
  UP='{__name__="up", instance="127.0.0.1:'$NE_PORT'", job="node"}'
  series_lines "$TMP/$mode.dump" "$UP" >"$TMP/$mode.up"
  n=$(wc -l <"$TMP/$mode.up")
  check "$mode: promtool sees >= 5 scrapes of up ($n)" [ "$n" -ge 5 ]
  check "$mode: every up sample is 1" [ "$(awk '{print $(NF-1)}' "$TMP/$mode.up" | sort -u)" = "1" ]
  awk '{print $NF}' "$TMP/$mode.up" >"$TMP/$mode.up.ts"
  for kv in 'a 42' 'b -1.5e-300' 'c +Inf' 'd 1.23456789125e+08'; do
    set -- $kv
    L='{__name__="wal_test_value", instance="127.0.0.1:'$NE_PORT'", job="node", k="'$1'"}'
    series_lines "$TMP/$mode.dump" "$L" >"$TMP/$mode.$1"
    check "$mode: wal_test_value{k=$1} has exactly the value $2 at every scrape" \
      sh -c "[ \"\$(awk '{print \$(NF-1)}' '$TMP/$mode.$1' | sort -u)\" = '$2' ] && awk '{print \$NF}' '$TMP/$mode.$1' | cmp -s - '$TMP/$mode.up.ts'"
  done
  # scrape_samples_scraped: the synthetic series made it too.
  check "$mode: synthetic series scrape_samples_scraped in the dump" grep -q '^{__name__="scrape_samples_scraped"' "$TMP/$mode.dump"
done

# A real Prometheus started on a copy of promlab's (snappy) data dir answers the same values.
cp -r "$TMP/promlab-snappy" "$TMP/prom-on-promlab"
last_ms=$(sort -n "$TMP/snappy.up.ts" | tail -1)
at=$(awk -v t="$last_ms" 'BEGIN{printf "%.3f", t/1000}')
P_PORT=$(free_port)
printf 'global:\n  scrape_interval: 1h\n' >"$TMP/empty.yml"
start_bg "$TMP/prom1.log" "$PROM" --config.file="$TMP/empty.yml" --storage.tsdb.path="$TMP/prom-on-promlab" \
  --web.listen-address=127.0.0.1:$P_PORT
PROM_PID=$LAST_PID
check "Prometheus 2.42 starts on promlab's data dir" wait_for 30 http_ok http://127.0.0.1:$P_PORT/-/ready
qat() { curl -fsS --get --data-urlencode "query=$2" --data-urlencode "time=$at" "$1/api/v1/query" | jq -r "$3"; }
check "Prometheus answers wal_test_value{k=\"d\"} = 123456789.125" \
  [ "$(qat http://127.0.0.1:$P_PORT 'wal_test_value{k="d"}' '.data.result[0].value[1]')" = "123456789.125" ]
check "Prometheus counts every up sample promlab wrote" \
  [ "$(qat http://127.0.0.1:$P_PORT 'count_over_time(up{job="node"}[1h])' '.data.result[0].value[1]')" = "$(wc -l <"$TMP/snappy.up")" ]
check "Prometheus logs no WAL corruption on promlab's WAL" sh -c "! grep -qiE 'corrupt|repair' '$TMP/prom1.log'"
kill -TERM "$PROM_PID"; wait "$PROM_PID" 2>/dev/null

# Prometheus writes, promlab replays.
P_PORT=$(free_port)
write_config "$TMP/prom.yml" "$P_PORT"
start_bg "$TMP/prom2.log" "$PROM" --config.file="$TMP/prom.yml" --storage.tsdb.path="$TMP/prom-data" \
  --web.listen-address=127.0.0.1:$P_PORT
PROM_PID=$LAST_PID
check "Prometheus 2.42 ingests" wait_for 30 http_ok http://127.0.0.1:$P_PORT/-/ready
prom_has() { [ "$(curl -fsS --get --data-urlencode 'query=count_over_time(up{job="node"}[1h])' http://127.0.0.1:$P_PORT/api/v1/query | jq -r '.data.result[0].value[1]')" -ge 5 ] 2>/dev/null; }
check "Prometheus has >= 5 scrapes" wait_for 20 prom_has
kill -TERM "$PROM_PID"; wait "$PROM_PID" 2>/dev/null
"$PROMTOOL" tsdb dump "$TMP/prom-data" >"$TMP/prom.dump" 2>/dev/null
UP='{__name__="up", instance="127.0.0.1:'$NE_PORT'", job="node"}'
series_lines "$TMP/prom.dump" "$UP" >"$TMP/prom.up"
n_prom=$(wc -l <"$TMP/prom.up")
last_ms=$(awk '{print $NF}' "$TMP/prom.up" | sort -n | tail -1)
at=$(awk -v t="$last_ms" 'BEGIN{printf "%.3f", t/1000}')
L_PORT=$(free_port)
printf 'global:\n  scrape_interval: 1h\n' >"$TMP/empty2.yml"
start_bg "$TMP/promlab-on-prom.log" "$PROMLAB" server --config.file="$TMP/empty2.yml" \
  --storage.tsdb.path="$TMP/prom-data" --web.listen-address=127.0.0.1:$L_PORT
LPID=$LAST_PID
check "promlab starts on Prometheus's data dir" wait_for 20 http_ok http://127.0.0.1:$L_PORT/-/ready
replayed=$(sed -n 's/.*msg="WAL replay completed".* samples=\([0-9]*\).*/\1/p' "$TMP/promlab-on-prom.log")
n_dump=$(grep -c '' "$TMP/prom.dump")
check "promlab replays every sample promtool dumps ($replayed of $n_dump)" [ "${replayed:-0}" = "$n_dump" ]
check "promlab answers up = 1 at Prometheus's last scrape" \
  [ "$(qat http://127.0.0.1:$L_PORT 'up{job="node"}' '.data.result[0].value[1]')" = "1" ]
check "promlab answers wal_test_value{k=\"d\"} = 123456789.125" \
  [ "$(qat http://127.0.0.1:$L_PORT 'wal_test_value{k="d"}' '.data.result[0].value[1]')" = "123456789.125" ]
check "promlab sees the 4 wal_test_value series" \
  [ "$(qat http://127.0.0.1:$L_PORT 'wal_test_value' '.data.result | length')" = "4" ]
check "promlab counts no corruption in Prometheus's WAL" \
  body_has http://127.0.0.1:$L_PORT/metrics '^prometheus_tsdb_wal_corruptions_total 0$'
kill -TERM "$LPID"; wait "$LPID"; rc=$?
check "promlab exits 0" [ "$rc" -eq 0 ]
check "no sanitizer reports" sh -c "! grep -qE 'Sanitizer|runtime error' '$TMP/promlab-on-prom.log'"
