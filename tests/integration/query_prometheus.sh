#!/usr/bin/env bash
# Remote read both ways with Debian's Prometheus 2.42: a real Prometheus
# configured with remote_read pointing at `promlab server` reads promlab's
# data (our server side of the protocol), and the same Prometheus is a leaf
# of `promlab query` through its own /api/v1/read (our client side).
source "$(dirname "$0")/../lib.sh"

PROMETHEUS=$(command -v prometheus || echo /usr/bin/prometheus)
NE=$(command -v prometheus-node-exporter || echo /usr/bin/prometheus-node-exporter)
NE_PORT=$(free_port); S_PORT=$(free_port); P_PORT=$(free_port); Q_PORT=$(free_port)
S=http://127.0.0.1:$S_PORT; P=http://127.0.0.1:$P_PORT; Q=http://127.0.0.1:$Q_PORT
mkdir -p "$TMP/textfile"
printf '# TYPE lab_temperature gauge\nlab_temperature{room="a"} 21.5\n' >"$TMP/textfile/lab.prom"
start_bg "$TMP/ne.log" "$NE" --web.listen-address=127.0.0.1:$NE_PORT --collector.disable-defaults \
  --collector.textfile --collector.textfile.directory="$TMP/textfile"
check "node_exporter starts" wait_for 15 http_ok http://127.0.0.1:$NE_PORT/metrics

cat >"$TMP/promlab.yml" <<YML
global:
  scrape_interval: 1s
  external_labels:
    origin: promlab
scrape_configs:
  - job_name: node_promlab
    static_configs:
      - targets: ['127.0.0.1:$NE_PORT']
YML
start_bg "$TMP/server.log" "$PROMLAB" server --config.file="$TMP/promlab.yml" --storage.tsdb.path="$TMP/data-s" \
  --web.listen-address=127.0.0.1:$S_PORT
check "promlab server ready" wait_for 20 http_ok $S/-/ready

cat >"$TMP/prometheus.yml" <<YML
global:
  scrape_interval: 1s
  external_labels:
    origin: prometheus
remote_read:
  - url: $S/api/v1/read
    read_recent: true
    filter_external_labels: false
scrape_configs:
  - job_name: node_prometheus
    static_configs:
      - targets: ['127.0.0.1:$NE_PORT']
YML
start_bg "$TMP/prometheus.log" "$PROMETHEUS" --config.file="$TMP/prometheus.yml" --storage.tsdb.path="$TMP/data-p" \
  --web.listen-address=127.0.0.1:$P_PORT
check "prometheus 2.42 ready" wait_for 30 http_ok $P/-/ready

# 1. Prometheus reads promlab's series through remote read.
from_promlab() { [ "$(query $P 'lab_temperature{job="node_promlab"}' '.data.result[0].value[1]')" = "21.5" ]; }
check "prometheus answers promlab's series via remote_read" wait_for 20 from_promlab
check "promlab's external label arrives with them" \
  [ "$(query $P 'lab_temperature{job="node_promlab"}' '.data.result[0].metric.origin')" = "promlab" ]
n=$(curl -sS --get --data-urlencode 'query=count_over_time(up{job="node_promlab"}[1h])' $P/api/v1/query | jq -r '.data.result[0].value[1]')
m=$(query $S 'count_over_time(up{job="node_promlab"}[1h])' '.data.result[0].value[1]')
close() { [ -n "$n" ] && [ -n "$m" ] && [ $((m - n)) -le 2 ] && [ $((n - m)) -le 2 ]; }
check "raw samples read through prometheus match promlab's own count ($n vs $m)" close
check "promlab counted the remote reads" \
  body_has $S/metrics '^prometheus_http_requests_total\{code="200",handler="/api/v1/read"\} [1-9]'

# 2. Prometheus as a leaf of promlab query, next to the promlab server.
start_bg "$TMP/query.log" "$PROMLAB" query --http-address=127.0.0.1:$Q_PORT --endpoint=$P --endpoint=$S
Q_PID=$LAST_PID
check "query ready" wait_for 20 http_ok $Q/-/ready
prom_up() { [ "$(query $Q 'up{job="node_prometheus"}' '.data.result[0].value[1]')" = "1" ]; }
check "query answers the real Prometheus's own series" wait_for 20 prom_up
check "with its external label" [ "$(query $Q 'up{job="node_prometheus"}' '.data.result[0].metric.origin')" = "prometheus" ]
check "promlab's series counted once (read directly and through prometheus: merged)" \
  [ "$(query $Q 'count(lab_temperature{origin="promlab"})' '.data.result[0].value[1]')" = "1" ]
rng=$(curl -sS --get --data-urlencode 'query=rate(prometheus_http_requests_total{job="node_prometheus"}[10s])' \
  --data-urlencode "start=$(( $(date +%s) - 5 ))" --data-urlencode "end=$(date +%s)" --data-urlencode step=1 $Q/api/v1/query_range)
check "query_range over the leaves succeeds" [ "$(echo "$rng" | jq -r .status)" = "success" ]
kill "$Q_PID"; wait "$Q_PID"; qrc=$?
check "query exits 0" [ "$qrc" = "0" ]
