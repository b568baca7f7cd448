#!/usr/bin/env bash
# promlab server scraping itself and a real node_exporter (Debian's package),
# answering over /api/v1/query; config errors, reloads, staleness, shutdown.
source "$(dirname "$0")/../lib.sh"

NE=$(command -v prometheus-node-exporter || echo /usr/bin/prometheus-node-exporter)
NE_PORT=$(free_port); P_PORT=$(free_port)
URL=http://127.0.0.1:$P_PORT

start_bg "$TMP/node_exporter.log" "$NE" --web.listen-address=127.0.0.1:$NE_PORT \
  --no-collector.textfile --collector.disable-defaults --collector.cpu --collector.meminfo --collector.loadavg \
  --collector.filesystem --collector.netdev --collector.stat --collector.uname --collector.time
check "node_exporter starts" wait_for 15 http_ok http://127.0.0.1:$NE_PORT/metrics

cat >"$TMP/prometheus.yml" <<YML
global:
  scrape_interval: 1s
  external_labels:
    lab: integration
scrape_configs:
  - job_name: 'prometheus'
    static_configs:
      - targets: ['127.0.0.1:$P_PORT']
  - job_name: 'node'
    static_configs:
      - targets: ['127.0.0.1:$NE_PORT']
  - job_name: 'broken'
    metrics_path: /
    static_configs:
      - targets: ['127.0.0.1:$NE_PORT']
YML

# A bad config is refused at start with file:line:col.
cat >"$TMP/bad.yml" <<'YML'
global:
  scrape_interval: 15s
  scrape_intervall: 1m
YML
"$PROMLAB" server --config.file="$TMP/bad.yml" --storage.tsdb.path="$TMP/bad-data" \
  --web.listen-address=127.0.0.1:$(free_port) >"$TMP/bad.log" 2>&1
rc=$?
check "bad config: exit status 1" [ "$rc" -eq 1 ]
check "bad config: error names file:line:col and the key" grep -q "bad.yml:3:3.*scrape_intervall" "$TMP/bad.log"

start_bg "$TMP/server.log" "$PROMLAB" server --config.file="$TMP/prometheus.yml" --storage.tsdb.path="$TMP/data" \
  --web.listen-address=127.0.0.1:$P_PORT --web.enable-lifecycle --storage.tsdb.retention.time=15d \
  --storage.tsdb.retention.size=5GB
SERVER_PID=$LAST_PID
check "server becomes ready" wait_for 20 http_ok $URL/-/ready
check "/-/healthy" [ "$(curl -fsS $URL/-/healthy)" = "Prometheus Server is Healthy." ]

up_node() { [ "$(query $URL 'up{job="node"}' '.data.result[0].value[1]')" = "1" ]; }
check 'up{job="node"} is 1' wait_for 20 up_node

cpu=$(curl -fsS --get --data-urlencode 'query=node_cpu_seconds_total' $URL/api/v1/query)
ncpu=$(echo "$cpu" | jq '.data.result | length')
check "node_cpu_seconds_total has series ($ncpu)" [ "$ncpu" -gt 0 ]
check "node_cpu_seconds_total: every series has job=node and instance=127.0.0.1:$NE_PORT" \
  [ "$(echo "$cpu" | jq --arg i "127.0.0.1:$NE_PORT" '[.data.result[] | select(.metric.job=="node" and .metric.instance==$i)] | length')" = "$ncpu" ]
check "node_cpu_seconds_total: cpu and mode labels kept" \
  [ "$(echo "$cpu" | jq '[.data.result[] | select(.metric.cpu != null and .metric.mode != null)] | length')" = "$ncpu" ]
check "result envelope is Prometheus's" [ "$(echo "$cpu" | jq -r '.status + "/" + .data.resultType')" = "success/vector" ]

up_self() { [ "$(query $URL 'up{job="prometheus"}' '.data.result[0].value[1]')" = "1" ]; }
check "self-scrape: up{job=prometheus} is 1" wait_for 10 up_self
head_series() { v=$(query $URL 'prometheus_tsdb_head_series{job="prometheus"}' '.data.result[0].value[1]'); [ "${v:-0}" -gt 100 ]; }
check "self-scrape: prometheus_tsdb_head_series > 100" wait_for 10 head_series
check "synthetic series scrape_duration_seconds, scrape_samples_scraped, scrape_series_added exist" \
  [ "$(query $URL '{__name__=~"scrape_duration_seconds|scrape_samples_scraped|scrape_samples_post_metric_relabeling|scrape_series_added",job="node"}' '.data.result | length')" = "4" ]

up_broken() { [ "$(query $URL 'up{job="broken"}' '.data.result[0].value[1]')" = "0" ]; }
check "a malformed body (HTML) gives up=0" wait_for 10 up_broken
check "the malformed scrape's error is in /api/v1/targets" \
  [ -n "$(curl -fsS "$URL/api/v1/targets" | jq -r '.data.activeTargets[] | select(.scrapePool=="broken") | .lastError')" ]
check "/api/v1/targets shows node up" \
  [ "$(curl -fsS "$URL/api/v1/targets" | jq -r '.data.activeTargets[] | select(.scrapePool=="node") | .health')" = "up" ]

# Status endpoints.
check "/api/v1/status/config holds the external labels" \
  sh -c "curl -fsS $URL/api/v1/status/config | jq -r .data.yaml | grep -q 'lab: integration'"
check "/api/v1/status/flags shows retention flags" \
  [ "$(curl -fsS $URL/api/v1/status/flags | jq -r '.data["storage.tsdb.retention.time"] + " " + .data["storage.tsdb.retention.size"]')" = "15d 5GB" ]
check "/api/v1/status/buildinfo has a version" \
  [ -n "$(curl -fsS $URL/api/v1/status/buildinfo | jq -r .data.version)" ]
check "/metrics exposes prometheus_tsdb_head_samples_appended_total" \
  body_has $URL/metrics '^prometheus_tsdb_head_samples_appended_total'
check "/metrics exposes prometheus_target_interval_length_seconds (after a second scrape)" \
  wait_for 10 body_has $URL/metrics '^prometheus_target_interval_length_seconds'

# Bad queries get Prometheus's error JSON.
code=$(curl -s -o "$TMP/err.json" -w '%{http_code}' --get --data-urlencode 'query=up{job=' $URL/api/v1/query)
check "bad query: HTTP 400" [ "$code" = "400" ]
check "bad query: errorType bad_data" [ "$(jq -r .errorType "$TMP/err.json")" = "bad_data" ]
check "POST form query works as GET" \
  [ "$(curl -fsS -d 'query=up{job="node"}' $URL/api/v1/query | jq -r '.data.result[0].value[1]')" = "1" ]

# Reload: a bad config is refused and the running one stays.
cp "$TMP/prometheus.yml" "$TMP/good.yml"
printf 'scrape_configs:\n  - job_name: x\n    scrape_interval: 1s\n    scrape_timeout: 5s\n' >"$TMP/prometheus.yml"
code=$(curl -s -o "$TMP/reload.txt" -w '%{http_code}' -X POST $URL/-/reload)
check "reload with a bad config: HTTP 500" [ "$code" = "500" ]
check "reload error says why" grep -q "scrape timeout greater than scrape interval" "$TMP/reload.txt"
check "the running config stays" sh -c "curl -fsS $URL/api/v1/status/config | jq -r .data.yaml | grep -q \"job_name: node\""
check "prometheus_config_last_reload_successful is 0" \
  body_has $URL/metrics '^prometheus_config_last_reload_successful 0'

# Reload by SIGHUP with the node job removed: its series go stale.
awk '/job_name: .node./{skip=1} /job_name: .broken./{skip=0} !skip' "$TMP/good.yml" >"$TMP/prometheus.yml"
kill -HUP "$SERVER_PID"
node_gone() { [ "$(query $URL 'up{job="node"}' '.data.result | length')" = "0" ]; }
check "SIGHUP reload removes the node job and its series go stale" wait_for 10 node_gone
check "prometheus_config_last_reload_successful is 1 again" \
  wait_for 5 body_has $URL/metrics '^prometheus_config_last_reload_successful 1'

code=$(curl -s -o /dev/null -w '%{http_code}' -X POST $URL/-/quit)
check "POST /-/quit accepted" [ "$code" = "200" ]
for _ in $(seq 1 40); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.25; done
wait "$SERVER_PID"; rc=$?
check "server exits 0 after /-/quit" [ "$rc" -eq 0 ]
check "no sanitizer reports in the server log" sh -c "! grep -E 'ERROR: (Address|Leak)Sanitizer|runtime error' '$TMP/server.log'"
if grep -qE 'Sanitizer|runtime error' "$TMP/server.log"; then grep -A20 -E 'Sanitizer|runtime error' "$TMP/server.log" | head -60 | sed 's/^/# /'; fi
