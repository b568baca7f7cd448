#!/usr/bin/env bash
# The global view: two promlab servers scrape the same node_exporter
# (textfile collector) with external labels that differ only in `replica`;
# `promlab query --query.replica-label=replica` answers each series once
# without the replica label, fills a gap of one replica from the other, and
# answers with a warning (or Prometheus's error JSON with
# partial_response=false) while a replica is down.
source "$(dirname "$0")/../lib.sh"

NE=$(command -v prometheus-node-exporter || echo /usr/bin/prometheus-node-exporter)
NE_PORT=$(free_port); A_PORT=$(free_port); B_PORT=$(free_port); Q_PORT=$(free_port)
Q=http://127.0.0.1:$Q_PORT
mkdir -p "$TMP/textfile"
cat >"$TMP/textfile/lab.prom" <<'EOF'
# TYPE lab_temperature gauge
lab_temperature{room="a"} 21.5
lab_temperature{room="b"} 19
# TYPE lab_events_total counter
lab_events_total 42
EOF
start_bg "$TMP/ne.log" "$NE" --web.listen-address=127.0.0.1:$NE_PORT --collector.disable-defaults \
  --collector.textfile --collector.textfile.directory="$TMP/textfile"
check "node_exporter starts" wait_for 15 http_ok http://127.0.0.1:$NE_PORT/metrics

start_replica() { # A|B port
  cat >"$TMP/$1.yml" <<YML
global:
  scrape_interval: 1s
  external_labels:
    cluster: lab
    replica: $1
scrape_configs:
  - job_name: node
    static_configs:
      - targets: ['127.0.0.1:$NE_PORT']
YML
  start_bg "$TMP/$1.log" "$PROMLAB" server --config.file="$TMP/$1.yml" --storage.tsdb.path="$TMP/data-$1" \
    --web.listen-address=127.0.0.1:$2
}
start_replica A $A_PORT; A_PID=$LAST_PID
start_replica B $B_PORT; B_PID=$LAST_PID
check "replica A ready" wait_for 20 http_ok http://127.0.0.1:$A_PORT/-/ready
check "replica B ready" wait_for 20 http_ok http://127.0.0.1:$B_PORT/-/ready

start_bg "$TMP/query.log" "$PROMLAB" query --http-address=127.0.0.1:$Q_PORT \
  --endpoint=http://127.0.0.1:$A_PORT --endpoint=http://127.0.0.1:$B_PORT --query.replica-label=replica
Q_PID=$LAST_PID
check "query ready" wait_for 20 http_ok $Q/-/ready
check "/-/healthy" http_ok $Q/-/healthy

# qparam EXPR PARAM...: instant query with extra parameters, whole answer.
qparam() { local e=$1; shift; curl -sS --get --data-urlencode "query=$e" "$@" $Q/api/v1/query; }
both_scraped() {
  [ "$(query http://127.0.0.1:$A_PORT 'count(lab_temperature)' '.data.result[0].value[1]')" = "2" ] &&
  [ "$(query http://127.0.0.1:$B_PORT 'count(lab_temperature)' '.data.result[0].value[1]')" = "2" ]
}
check "both replicas scrape the target" wait_for 20 both_scraped

ans=$(qparam 'lab_temperature')
check "deduplicated: each series once (2 rooms)" [ "$(echo "$ans" | jq '.data.result | length')" = "2" ]
check "deduplicated: no replica label, cluster kept" \
  [ "$(echo "$ans" | jq '[.data.result[] | select(.metric.replica == null and .metric.cluster == "lab")] | length')" = "2" ]
check "deduplicated value is the target's" \
  [ "$(echo "$ans" | jq -r '.data.result[] | select(.metric.room=="a") | .value[1]')" = "21.5" ]
raw=$(qparam 'lab_temperature' --data-urlencode dedup=false)
check "dedup=false: one series per replica (4)" [ "$(echo "$raw" | jq '.data.result | length')" = "4" ]
check "dedup=false: replicas A and B visible" \
  [ "$(echo "$raw" | jq -r '[.data.result[].metric.replica] | unique | join(",")')" = "A,B" ]
check "a matcher on the replica label selects that replica" \
  [ "$(qparam 'lab_temperature{replica="B"}' --data-urlencode dedup=false | jq -r '[.data.result[].metric.replica] | unique | join(",")')" = "B" ]
check "count(up) through query is 1 (not 2)" [ "$(query $Q 'count(up)' '.data.result[0].value[1]')" = "1" ]
now=$(date +%s)
rng=$(curl -sS --get --data-urlencode 'query=lab_events_total' --data-urlencode "start=$((now - 5))" \
  --data-urlencode "end=$now" --data-urlencode step=1 $Q/api/v1/query_range)
check "query_range: one deduplicated series" [ "$(echo "$rng" | jq '.data.result | length')" = "1" ]
# Both replicas up: deduplication does not double the sampling rate.
ten_a() { v=$(query http://127.0.0.1:$A_PORT 'count_over_time(lab_events_total[10s])' '.data.result[0].value[1]'); [ "${v:-0}" -ge 9 ]; }
check "replica A holds 10 s of samples" wait_for 20 ten_a
n10=$(qparam 'count_over_time(lab_events_total[10s])' | jq -r '.data.result[0].value[1]')
rate_ok() { [ "${n10:-0}" -ge 8 ] && [ "${n10:-99}" -le 12 ]; }
check "10 s of 1 s scrapes of two replicas give about 10 samples, not 20 ($n10)" rate_ok

# A gap in replica A: stop it, let B scrape on, start A again on its data.
sleep 2
kill "$A_PID"; wait "$A_PID" 2>/dev/null
stop_ms=$(date +%s%3N)
partial=$(qparam 'lab_temperature')
check "A down: partial response still answers from B" [ "$(echo "$partial" | jq '.data.result | length')" = "2" ]
warns_a() { echo "$partial" | jq -r '.warnings[]?' | grep -q "127.0.0.1:$A_PORT"; }
check "A down: the answer carries a warning naming A" warns_a
strict=$(qparam 'lab_temperature' --data-urlencode partial_response=false)
check "A down, partial_response=false: Prometheus's error JSON" \
  [ "$(echo "$strict" | jq -r '.status + "/" + .errorType')" = "error/execution" ]
sleep 6
restart_ms=$(date +%s%3N)
start_replica A $A_PORT; A_PID=$LAST_PID
check "replica A back" wait_for 20 http_ok http://127.0.0.1:$A_PORT/-/ready
a_back() { [ "$(query http://127.0.0.1:$A_PORT 'count(lab_temperature)' '.data.result[0].value[1]')" = "2" ]; }
check "replica A scrapes again" wait_for 20 a_back
sleep 2
# Raw samples of the last 40 s, deduplicated and per replica.
in_gap() { # answer -> samples strictly inside the gap of the series with room=a [and replica]
  jq --argjson lo "$stop_ms" --argjson hi "$restart_ms" --arg r "${1:-}" \
    '[.data.result[] | select(.metric.room=="a" and ($r == "" or .metric.replica == $r)) | .values[]
      | select((.[0] * 1000) > ($lo + 1500) and (.[0] * 1000) < ($hi - 500))] | length'
}
dd=$(qparam 'lab_temperature[40s]')
rw=$(qparam 'lab_temperature[40s]' --data-urlencode dedup=false)
ga=$(echo "$rw" | in_gap A); gb=$(echo "$rw" | in_gap B); gd=$(echo "$dd" | in_gap)
check "replica A has no samples in its gap ($ga)" [ "$ga" = "0" ]
check "replica B has samples there ($gb)" [ "$gb" -ge 3 ]
check "the deduplicated series is filled from B in the gap ($gd of $gb)" [ "$gd" -ge $((gb - 1)) ]
check "after the gap: one series per room again" [ "$(echo "$dd" | jq '.data.result | length')" = "2" ]
check "/metrics counts the selects A failed" \
  wait_for 5 body_has $Q/metrics '^promlab_query_endpoint_selects_total\{endpoint="http://127.0.0.1:'$A_PORT'",result="error"\} [1-9]'

# Shutdown is clean (ASan reports leaks at exit).
kill "$Q_PID"; wait "$Q_PID"; qrc=$?
check "query exits 0 on SIGTERM" [ "$qrc" = "0" ]
check "query exits without sanitizer reports" sh -c "! grep -q 'Sanitizer' '$TMP/query.log'"
