#!/usr/bin/env bash
# The cardinality story of lab 4 with the real node_exporter: its textfile
# collector exposes http_requests_total with 5000 user_id values over 5
# endpoints. One promlab server stores it as is (the explosion); a second one
# with a labeldrop metric_relabel_config stores 5 series (the cure), as
# prometheus_tsdb_head_series and /api/v1/status/tsdb show; a third job with
# sample_limit fails its scrapes with up=0, Prometheus's error and the counter.
# Also: file_sd target files edited while the server runs.
source "$(dirname "$0")/../lib.sh"

NE=$(command -v prometheus-node-exporter || echo /usr/bin/prometheus-node-exporter)
NE_PORT=$(free_port); A_PORT=$(free_port); B_PORT=$(free_port)
mkdir -p "$TMP/textfile"
{
  echo "# HELP http_requests_total Requests by user and endpoint."
  echo "# TYPE http_requests_total counter"
  for u in $(seq 1 5000); do
    echo "http_requests_total{endpoint=\"/e$((u % 5))\",user_id=\"user-$u\"} $u"
  done
} >"$TMP/textfile/requests.prom.tmp"
mv "$TMP/textfile/requests.prom.tmp" "$TMP/textfile/requests.prom"

start_bg "$TMP/node_exporter.log" "$NE" --web.listen-address=127.0.0.1:$NE_PORT \
  --collector.disable-defaults --collector.textfile --collector.textfile.directory="$TMP/textfile"
check "node_exporter starts" wait_for 15 http_ok http://127.0.0.1:$NE_PORT/metrics
check "node_exporter exposes 5000 user_id series" \
  [ "$(curl -fsS http://127.0.0.1:$NE_PORT/metrics | grep -c '^http_requests_total{')" = 5000 ]

cat >"$TMP/a.yml" <<YML
global:
  scrape_interval: 5s
  scrape_timeout: 5s
scrape_configs:
  - job_name: node
    static_configs: [{targets: ['127.0.0.1:$NE_PORT']}]
YML
cat >"$TMP/b.yml" <<YML
global:
  scrape_interval: 5s
  scrape_timeout: 5s
scrape_configs:
  - job_name: node
    static_configs: [{targets: ['127.0.0.1:$NE_PORT']}]
    metric_relabel_configs:
      - regex: user_id
        action: labeldrop
      - source_labels: [__name__]
        regex: 'go_.*'
        action: drop
  - job_name: limited
    sample_limit: 1000
    static_configs: [{targets: ['127.0.0.1:$NE_PORT']}]
  - job_name: files
    scrape_interval: 1s
    scrape_timeout: 1s
    file_sd_configs:
      - files: ['$TMP/sd/*.json']
    relabel_configs:
      - source_labels: [role]
        regex: ignored
        action: drop
YML
mkdir -p "$TMP/sd"
echo "[{\"targets\": [\"127.0.0.1:$A_PORT\"], \"labels\": {\"role\": \"exporter\"}}]" >"$TMP/sd/t.json"

start_bg "$TMP/a.log" "$PROMLAB" server --config.file="$TMP/a.yml" --storage.tsdb.path="$TMP/a-data" \
  --web.listen-address=127.0.0.1:$A_PORT --web.enable-lifecycle
A_PID=$LAST_PID
start_bg "$TMP/b.log" "$PROMLAB" server --config.file="$TMP/b.yml" --storage.tsdb.path="$TMP/b-data" \
  --web.listen-address=127.0.0.1:$B_PORT --web.enable-lifecycle
B_PID=$LAST_PID
A=http://127.0.0.1:$A_PORT; B=http://127.0.0.1:$B_PORT
check "both servers become ready" wait_for 20 sh -c "curl -fsS $A/-/ready >/dev/null && curl -fsS $B/-/ready >/dev/null"

# check_or_show DESCRIPTION SERVER_URL COMMAND...: as check, and on failure shows the server's targets.
check_or_show() {
  local d=$1 url=$2; shift 2
  if "$@"; then ok "$d"; else
    not_ok "$d"
    curl -fsS "$url/api/v1/targets" | jq -c '.data.activeTargets[] | [.scrapePool, .health, .lastError, .lastScrapeDuration]' | sed 's/^/# /'
  fi
}
count_of() { query "$1" "count($2)" '.data.result[0].value[1] // "0"'; }
exploded() { [ "$(count_of $A 'http_requests_total')" = 5000 ]; }
cured() { [ "$(count_of $B 'http_requests_total{job="node"}')" = 5 ]; }
check_or_show "without relabeling: 5000 series of http_requests_total" $A wait_for 30 exploded
check_or_show "with labeldrop user_id: 5 series (one per endpoint)" $B wait_for 30 cured
check "the cured series carry no user_id" [ "$(count_of $B 'http_requests_total{user_id!=""}')" = 0 ]
check "the cured series keep job, instance and endpoint" \
  [ "$(query $B 'http_requests_total{job="node",endpoint="/e1",instance="127.0.0.1:'$NE_PORT'"}' '.data.result | length')" = 1 ]

head_series() { curl -fsS "$1/metrics" | awk '$1=="prometheus_tsdb_head_series"{print $2}'; }
a_series=$(head_series $A); b_series=$(head_series $B)
echo "# head series: exploded $a_series, cured $b_series"
check "prometheus_tsdb_head_series: exploded server > 5000" [ "${a_series:-0}" -gt 5000 ]
check "prometheus_tsdb_head_series: cured server < 200" [ "${b_series:-99999}" -lt 200 ]

ta=$(curl -fsS "$A/api/v1/status/tsdb?limit=3"); tb=$(curl -fsS "$B/api/v1/status/tsdb?limit=3")
check "/api/v1/status/tsdb (exploded): user_id has 5000 values" \
  [ "$(echo "$ta" | jq -r '.data.labelValueCountByLabelName[] | select(.name=="user_id") | .value')" = 5000 ]
check "/api/v1/status/tsdb (exploded): http_requests_total tops seriesCountByMetricName" \
  [ "$(echo "$ta" | jq -r '.data.seriesCountByMetricName[0] | "\(.name) \(.value)"')" = "http_requests_total 5000" ]
check "/api/v1/status/tsdb (cured): no user_id at all" \
  [ "$(echo "$tb" | jq -r '[.data.labelValueCountByLabelName[] | select(.name=="user_id")] | length')" = 0 ]
check "/api/v1/status/tsdb (cured): http_requests_total has 5 series" \
  [ "$(curl -fsS "$B/api/v1/status/tsdb?limit=100" | jq -r '.data.seriesCountByMetricName[] | select(.name=="http_requests_total") | .value')" = 5 ]
check "/api/v1/status/tsdb: headStats.numSeries equals prometheus_tsdb_head_series (cured)" \
  [ "$(echo "$tb" | jq -r '.data.headStats | (.numSeries > 0 and .numLabelPairs > 0 and .chunkCount > 0 and .maxTime >= .minTime)')" = true ]
check "scrape_samples_post_metric_relabeling < scrape_samples_scraped on the cured job" \
  [ "$(query $B 'scrape_samples_post_metric_relabeling{job="node"} < scrape_samples_scraped{job="node"}' '.data.result | length')" = 1 ]

# sample_limit: the whole scrape fails.
limited_down() { [ "$(query $B 'up{job="limited"}' '.data.result[0].value[1]')" = 0 ]; }
check "sample_limit 1000: up{job=limited} is 0" wait_for 10 limited_down
check "sample_limit: lastError is Prometheus's text" \
  [ "$(curl -fsS "$B/api/v1/targets?scrapePool=limited" | jq -r '.data.activeTargets[0].lastError')" = "sample limit exceeded" ]
check "sample_limit: none of the scrape stored" [ "$(count_of $B 'http_requests_total{job="limited"}')" = 0 ]
check "sample_limit: scrape_samples_scraped reports the true count" \
  [ "$(query $B 'scrape_samples_scraped{job="limited"} > 5000' '.data.result | length')" = 1 ]
check "prometheus_target_scrapes_exceeded_sample_limit_total counts it" \
  sh -c "curl -fsS $B/metrics | awk '\$1==\"prometheus_target_scrapes_exceeded_sample_limit_total\" && \$2>=1 {f=1} END {exit !f}'"

# file_sd: the file's target is scraped with its labels; an edit while running changes the targets.
files_up() { [ "$(query $B 'up{job="files",role="exporter"}' '.data.result[0].value[1]')" = 1 ]; }
check "file_sd target is scraped with the file's labels" wait_for 15 files_up
check "file_sd target's discoveredLabels carry __meta_filepath" \
  [ "$(curl -fsS "$B/api/v1/targets?scrapePool=files" | jq -r '.data.activeTargets[0].discoveredLabels.__meta_filepath')" = "$TMP/sd/t.json" ]
cat >"$TMP/sd/t.json.tmp" <<JSON
[{"targets": ["127.0.0.1:$A_PORT"], "labels": {"role": "edited"}},
 {"targets": ["127.0.0.1:$B_PORT"], "labels": {"role": "self"}},
 {"targets": ["127.0.0.1:1"], "labels": {"role": "ignored"}}]
JSON
mv "$TMP/sd/t.json.tmp" "$TMP/sd/t.json"
two_targets() { [ "$(curl -fsS "$B/api/v1/targets?scrapePool=files&state=active" | jq -r '[.data.activeTargets[].labels.role] | sort | join(",")')" = "edited,self" ]; }
check "edited target file: the targets change while running" wait_for 15 two_targets
check "the relabel-dropped file target is listed in droppedTargets" \
  [ "$(curl -fsS "$B/api/v1/targets?state=dropped" | jq -r '[.data.droppedTargets[] | select(.discoveredLabels.role=="ignored")] | length')" = 1 ]
check "droppedTargetCounts counts it" \
  [ "$(curl -fsS "$B/api/v1/targets" | jq -r '.data.droppedTargetCounts.files')" = 1 ]
self_up() { [ "$(query $B 'up{job="files",role="self"}' '.data.result[0].value[1]')" = 1 ]; }
check "the new file target is scraped" wait_for 15 self_up
old_gone() { [ "$(query $B 'up{job="files",role="exporter"}' '.data.result | length')" = 0 ]; }
check "the old file target's series go stale" wait_for 15 old_gone
echo '[{"targets": [' >"$TMP/sd/t.json"
sleep 2
check "a broken target file keeps the last good targets" two_targets
check "prometheus_sd_file_read_errors_total counts it" \
  sh -c "curl -fsS $B/metrics | awk '\$1==\"prometheus_sd_file_read_errors_total\" && \$2>=1 {f=1} END {exit !f}'"

# Metadata per target, as Prometheus's API shows it.
check "/api/v1/targets/metadata has http_requests_total as a counter" \
  [ "$(curl -fsS "$B/api/v1/targets/metadata?metric=http_requests_total&match_target=%7Bjob%3D%22node%22%7D" | jq -r '.data[0].type + " " + .data[0].help')" = "counter Requests by user and endpoint." ]

# The heap profile accounts the exploded server's memory.
check "/debug/pprof/heap?debug=1 lists the head's series" \
  sh -c "curl -fsS '$A/debug/pprof/heap?debug=1' | grep -qE '^5[0-9]{3}: [0-9]+ .* @ promlab.head.series'"
check "/debug/pprof/heap is a gzip'd profile" sh -c "curl -fsS $A/debug/pprof/heap | gunzip | grep -q promlab.head.chunks"
if command -v go >/dev/null 2>&1; then
  curl -fsS -o "$TMP/heap.out" "$A/debug/pprof/heap"
  HOME=$TMP GOCACHE=$TMP/gocache go tool pprof -top -unit=B -nodefraction=0 "$TMP/heap.out" >"$TMP/pprof.txt" 2>&1
  sed -n 1,16p "$TMP/pprof.txt" | sed 's/^/# /'
  check "go tool pprof -top reads the heap profile (inuse_space)" grep -q '^Type: inuse_space' "$TMP/pprof.txt"
  check "go tool pprof: promlab.head.series is listed" grep -q 'promlab.head.series$' "$TMP/pprof.txt"
  total=$(grep -oE 'of [0-9]+B total' "$TMP/pprof.txt" | grep -oE '[0-9]+')
  sum=$(awk '$NF ~ /^promlab\./ && $NF != "promlab.server" { v = $1; sub(/B$/, "", v); s += v } END { print s + 0 }' "$TMP/pprof.txt")
  check "go tool pprof: the components add up to the profile's total ($sum of $total)" \
    test -n "$total" -a "$sum" = "$total"
else
  echo "# go not installed: go tool pprof not checked"
fi

curl -fsS -X POST "$A/-/quit" >/dev/null
curl -fsS -X POST "$B/-/quit" >/dev/null
for _ in $(seq 1 60); do kill -0 "$A_PID" 2>/dev/null || break; sleep 0.25; done
for _ in $(seq 1 60); do kill -0 "$B_PID" 2>/dev/null || break; sleep 0.25; done
wait "$B_PID"; rc=$?
check "server b exits 0 after /-/quit (leak check ran)" [ "$rc" -eq 0 ]
for log in a b; do
  check "no sanitizer reports in server $log's log" sh -c "! grep -E 'ERROR: (Address|Leak)Sanitizer|runtime error' '$TMP/$log.log'"
done
