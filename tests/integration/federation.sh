#!/usr/bin/env bash
# Federation both ways with the real thing (Debian's Prometheus 2.42):
#  - Prometheus scrapes promlab's /federate with honor_labels: true and
#    match[]={job="node"}: the node series arrive with their original job and
#    instance and promlab's external label.
#  - promlab scrapes Prometheus's /federate the same way: Prometheus's own
#    series arrive with job/instance kept and Prometheus's external label.
# Plus /federate's rules checked on promlab directly: match[] required,
# several match[], stale series left out, gzip.
source "$(dirname "$0")/../lib.sh"

PROM=$(command -v prometheus || echo /usr/bin/prometheus)
if [ ! -x "$PROM" ]; then
  echo "# prometheus not installed: skipping"
  ok "skipped: no prometheus binary"
  exit 0
fi
NE=$(command -v prometheus-node-exporter || echo /usr/bin/prometheus-node-exporter)
NE_PORT=$(free_port); P_PORT=$(free_port); R_PORT=$(free_port)
P=http://127.0.0.1:$P_PORT; R=http://127.0.0.1:$R_PORT

start_bg "$TMP/node_exporter.log" "$NE" --web.listen-address=127.0.0.1:$NE_PORT \
  --collector.disable-defaults --collector.loadavg --collector.uname
check "node_exporter starts" wait_for 15 http_ok http://127.0.0.1:$NE_PORT/metrics

cat >"$TMP/promlab.yml" <<YML
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  external_labels:
    dc: promlab-dc
scrape_configs:
  - job_name: node
    static_configs: [{targets: ['127.0.0.1:$NE_PORT']}]
  - job_name: federate-real
    honor_labels: true
    metrics_path: /federate
    params:
      'match[]': ['{job="real"}']
    static_configs: [{targets: ['127.0.0.1:$R_PORT']}]
YML
cat >"$TMP/prometheus.yml" <<YML
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  external_labels:
    origin: real-prom
scrape_configs:
  - job_name: real
    static_configs: [{targets: ['127.0.0.1:$R_PORT']}]
  - job_name: federate-promlab
    honor_labels: true
    metrics_path: /federate
    params:
      'match[]': ['{job="node"}']
    static_configs: [{targets: ['127.0.0.1:$P_PORT']}]
YML

start_bg "$TMP/promlab.log" "$PROMLAB" server --config.file="$TMP/promlab.yml" --storage.tsdb.path="$TMP/p-data" \
  --web.listen-address=127.0.0.1:$P_PORT --web.enable-lifecycle
P_PID=$LAST_PID
start_bg "$TMP/prometheus.log" "$PROM" --config.file="$TMP/prometheus.yml" --storage.tsdb.path="$TMP/r-data" \
  --web.listen-address=127.0.0.1:$R_PORT
check "promlab and prometheus become ready" wait_for 30 sh -c "curl -fsS $P/-/ready >/dev/null && curl -fsS $R/-/ready >/dev/null"

# promlab's /federate itself.
node_up() { [ "$(query $P 'up{job="node"}' '.data.result[0].value[1]')" = 1 ]; }
check "promlab scrapes node_exporter" wait_for 15 node_up
fed() { curl -fsS -G "$P/federate" "$@"; }
fed --data-urlencode 'match[]={job="node"}' >"$TMP/fed.txt"
check "/federate: node_load1 with job, instance and the external label" \
  grep -qE "^node_load1\{instance=\"127.0.0.1:$NE_PORT\",job=\"node\",dc=\"promlab-dc\"\} [0-9.e+-]+ [0-9]{13}$" "$TMP/fed.txt"
check "/federate: a # TYPE untyped line per family, families sorted" \
  sh -c "grep '^# TYPE' '$TMP/fed.txt' | awk '{print \$3}' >'$TMP/names'; LC_ALL=C sort -c '$TMP/names' && grep -q '^# TYPE node_load1 untyped\$' '$TMP/fed.txt'"
check "/federate: only the selected job" sh -c "! grep -v '^#' '$TMP/fed.txt' | grep -v 'job=\"node\"'"
fed_empty() { [ "$(curl -s -o "$TMP/fed0" -w "%{http_code}" "$1/federate")" = 200 ] && [ ! -s "$TMP/fed0" ]; }
fed_empty_both() { fed_empty "$P" && fed_empty "$R"; }
check "/federate without match[]: 200 and empty, as Prometheus 2.42 answers" fed_empty_both
code=$(curl -s -o /dev/null -w '%{http_code}' -G "$P/federate" --data-urlencode 'match[]=up{')
check "/federate with a bad selector: 400" [ "$code" = 400 ]
n_two=$(fed --data-urlencode 'match[]=up{job="node"}' --data-urlencode 'match[]={__name__="up",instance="127.0.0.1:'$NE_PORT'"}' | grep -c '^up{')
check "/federate: a series two match[] select is written once" [ "$n_two" = 1 ]
check "/federate: gzip when asked" sh -c "curl -fsS -H 'Accept-Encoding: gzip' -G '$P/federate' --data-urlencode 'match[]={job=\"node\"}' | gunzip | grep -q '^node_load1{'"
check "/federate: OpenMetrics when asked" \
  sh -c "curl -fsS -H 'Accept: application/openmetrics-text;version=1.0.0' -G '$P/federate' --data-urlencode 'match[]=up' | tail -1 | grep -qx '# EOF'"

# Prometheus 2.42 federates from promlab.
real_has_node() {
  [ "$(query $R 'node_load1{job="node",instance="127.0.0.1:'$NE_PORT'",dc="promlab-dc"}' '.data.result | length')" = 1 ]
}
check "prometheus 2.42 federates node_load1 from promlab (job, instance kept; dc external label arrived)" \
  wait_for 30 real_has_node
fed_up() { [ "$(query $R 'up{job="federate-promlab"}' '.data.result[0].value[1]')" = 1 ]; }
check "prometheus's federate-promlab target is up" wait_for 10 fed_up
check "prometheus: no exported_job (honor_labels)" \
  [ "$(query $R 'count({exported_job!=""})' '.data.result | length')" = 0 ]
same_value() {
  local a b
  a=$(query $R 'node_uname_info{job="node"}' '.data.result[0].metric.nodename')
  b=$(query $P 'node_uname_info{job="node"}' '.data.result[0].metric.nodename')
  [ -n "$a" ] && [ "$a" = "$b" ]
}
check "prometheus has the same node_uname_info labels as promlab" same_value

# promlab federates from Prometheus 2.42.
promlab_has_real() {
  [ "$(query $P 'up{job="real",instance="127.0.0.1:'$R_PORT'",origin="real-prom"}' '.data.result[0].value[1]')" = 1 ]
}
check "promlab federates up{job=real} from prometheus (job, instance kept; origin external label arrived)" \
  wait_for 30 promlab_has_real
check "promlab: prometheus's own metrics arrived (prometheus_tsdb_head_series{job=real})" \
  wait_for 10 sh -c "[ \"\$(curl -fsS -G $P/api/v1/query --data-urlencode 'query=prometheus_tsdb_head_series{job=\"real\",origin=\"real-prom\"}' | jq '.data.result | length')\" = 1 ]"
check "promlab: federate-real target is up with no error" \
  [ "$(curl -fsS "$P/api/v1/targets?scrapePool=federate-real" | jq -r '.data.activeTargets[0].health + "|" + .data.activeTargets[0].lastError')" = "up|" ]
check "promlab: no exported_instance labels (honor_labels)" \
  [ "$(query $P 'count({exported_instance!=""})' '.data.result | length')" = 0 ]

# Stale series are left out: stop scraping node_exporter (reload without the job).
sed -i '/job_name: node/,/targets/d' "$TMP/promlab.yml"
curl -fsS -X POST "$P/-/reload" >/dev/null
node_stale() { ! fed --data-urlencode 'match[]={job="node"}' | grep -q '^node_load1'; }
check "/federate leaves out series whose newest sample is a stale marker" wait_for 15 node_stale

curl -fsS -X POST "$P/-/quit" >/dev/null
for _ in $(seq 1 60); do kill -0 "$P_PID" 2>/dev/null || break; sleep 0.25; done
wait "$P_PID"; rc=$?
check "promlab exits 0 after /-/quit" [ "$rc" -eq 0 ]
check "no sanitizer reports in promlab's log" sh -c "! grep -E 'ERROR: (Address|Leak)Sanitizer|runtime error' '$TMP/promlab.log'"
