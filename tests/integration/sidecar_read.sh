#!/usr/bin/env bash
# The sidecar's read API (POST /api/v1/read, GET /api/v1/store/info) beside
# Debian's Prometheus 2.42 and beside promlab's server, both holding the same
# backfilled history and differing only in the replica external label:
# `promlab query --endpoint=<sidecar> --endpoint=<sidecar>` answers as the
# servers do, with the external labels the sidecars attach, one series per
# replica set when deduplicating, both replicas without.
source "$(dirname "$0")/../lib.sh"
source "$ROOT/tests/sidecar_lib.sh"

gen_om "$TMP/in.om" "$BF_START" 6
"$PROMLAB" tool tsdb create-blocks-from openmetrics "$TMP/in.om" "$TMP/pl-data" >"$TMP/bf1.log" 2>&1
"$PROMTOOL" tsdb create-blocks-from openmetrics "$TMP/in.om" "$TMP/prom-data" >"$TMP/bf2.log" 2>&1
check "backfills made 4 blocks each" \
  [ "$(blocks_of "$TMP/pl-data" | wc -l)" = 4 -a "$(blocks_of "$TMP/prom-data" | wc -l)" = 4 ]

PL_PORT=$(free_port); PR_PORT=$(free_port); S1_PORT=$(free_port); S2_PORT=$(free_port); Q_PORT=$(free_port)
PL=http://127.0.0.1:$PL_PORT; PR=http://127.0.0.1:$PR_PORT
S1=http://127.0.0.1:$S1_PORT; S2=http://127.0.0.1:$S2_PORT; Q=http://127.0.0.1:$Q_PORT
write_prom_config "$TMP/pl.yml" cluster=lab replica=promlab
write_prom_config "$TMP/pr.yml" cluster=lab replica=prometheus
start_bg "$TMP/server.log" "$PROMLAB" server --config.file="$TMP/pl.yml" --storage.tsdb.path="$TMP/pl-data" \
  --web.listen-address=127.0.0.1:$PL_PORT --storage.tsdb.retention.time=30d
start_bg "$TMP/prometheus.log" "$PROMETHEUS" --config.file="$TMP/pr.yml" --storage.tsdb.path="$TMP/prom-data" \
  --web.listen-address=127.0.0.1:$PR_PORT --storage.tsdb.retention.time=30d
check "promlab server ready" wait_for 30 http_ok $PL/-/ready
check "Prometheus 2.42 ready" wait_for 40 http_ok $PR/-/ready
# No bucket: the sidecars only serve reads.
start_bg "$TMP/sidecar1.log" "$PROMLAB" sidecar --tsdb.path="$TMP/pl-data" --prometheus.url=$PL \
  --http-address=127.0.0.1:$S1_PORT --prometheus.get_config_interval=1s
start_bg "$TMP/sidecar2.log" "$PROMLAB" sidecar --tsdb.path="$TMP/prom-data" --prometheus.url=$PR \
  --http-address=127.0.0.1:$S2_PORT --prometheus.get_config_interval=1s
check "sidecars ready" wait_for 30 http_ok $S1/-/ready
wait_for 30 http_ok $S2/-/ready
oldest() { for u in $(blocks_of "$1"); do jq .minTime "$1/$u/meta.json"; done | sort -n | head -1; }
check "sidecar info beside Prometheus: its labels and its oldest block's minTime" \
  [ "$(curl -fsS $S2/api/v1/store/info | jq -c '[.data.labelSets, .data.minTime]')" = "[[{\"cluster\":\"lab\",\"replica\":\"prometheus\"}],$(oldest "$TMP/prom-data")]" ]
check "sidecar info beside promlab: its labels" \
  [ "$(curl -fsS $S1/api/v1/store/info | jq -c '.data.labelSets')" = '[{"cluster":"lab","replica":"promlab"}]' ]

start_bg "$TMP/query.log" "$PROMLAB" query --endpoint=$S1 --endpoint=$S2 --query.replica-label=replica \
  --http-address=127.0.0.1:$Q_PORT
check "query ready" wait_for 30 http_ok $Q/-/ready
T=$((BF_START + 3 * 3600))
instant() { curl -fsS --get --data-urlencode "query=$2" --data-urlencode "time=$T" ${3:+--data-urlencode "$3"} "$1/api/v1/query"; }
check "through the sidecars: 20 series, deduplicated" \
  [ "$(instant $Q 'lab_metric' | jq '.data.result | length')" = 20 ]
check "dedup=false: 40 series, both replicas, external labels attached" \
  [ "$(instant $Q 'lab_metric' dedup=false | jq -c '[(.data.result | length), ([.data.result[].metric.replica] | unique), ([.data.result[].metric.cluster] | unique)]')" \
    = '[40,["prometheus","promlab"],["lab"]]' ]
check "a matcher on the replica label reaches Prometheus's sidecar alone" \
  [ "$(instant $Q 'lab_metric{replica="prometheus"}' dedup=false | jq -c '[(.data.result | length), ([.data.result[].metric.replica] | unique)]')" = '[20,["prometheus"]]' ]
vals() { jq -c '[.data.result[] | {s: .metric.series, v: .value[1]}] | sort_by(.s)'; }
check "values through Prometheus's sidecar equal Prometheus's own" \
  [ "$(instant $Q 'lab_metric{replica="prometheus"}' dedup=false | vals)" = "$(instant $PR 'lab_metric' | vals)" ]
check "values through promlab's sidecar equal promlab's own" \
  [ "$(instant $Q 'lab_metric{replica="promlab"}' dedup=false | vals)" = "$(instant $PL 'lab_metric' | vals)" ]
rng() { curl -fsS --get --data-urlencode "query=$2" --data-urlencode "start=$((BF_START + 1200))" \
  --data-urlencode "end=$((BF_START + 5 * 3600))" --data-urlencode step=600 "$1/api/v1/query_range" | jq -c '[.data.result[].values]'; }
# equal up to float rounding (the engines sum the series in different orders)
close_ranges() { # A B: same timestamps, values within 1e-9 relative
  jq -n --argjson a "$1" --argjson b "$2" '($a | length) == 1 and ($b | length) == 1 and ($a[0] | length) == ($b[0] | length)
    and ($a[0] | length) > 20 and ([range($a[0] | length)] | all(. as $i | $a[0][$i][0] == $b[0][$i][0]
    and ((($a[0][$i][1] | tonumber) - ($b[0][$i][1] | tonumber)) | fabs) <= 1e-9 * ([1, ($a[0][$i][1] | tonumber | fabs)] | max)))' \
    | grep -qx true
}
# (promlab's engine on both sides: Prometheus 2.42's rate() extrapolates by its older rules)
check "sum(rate(lab_metric[10m])) over 5 h of Prometheus's data through its sidecar equals promlab's over its own copy" \
  close_ranges "$(rng $Q 'sum(rate(lab_metric{replica="prometheus"}[10m]))')" "$(rng $PL 'sum(rate(lab_metric[10m]))')"
check "... and deduplicated over both sidecars too" \
  close_ranges "$(rng $Q 'sum(rate(lab_metric[10m]))')" "$(rng $PL 'sum(rate(lab_metric[10m]))')"
check "the sidecars counted their reads" body_has $S2/metrics '^promlab_sidecar_remote_reads_total\{result="success"\} [1-9]'
# Prometheus itself as a leaf: the resolution on the read URL and the hints are ignored, not refused
Q3_PORT=$(free_port); Q3=http://127.0.0.1:$Q3_PORT
start_bg "$TMP/query3.log" "$PROMLAB" query --endpoint=$PR --http-address=127.0.0.1:$Q3_PORT
check "query over Prometheus directly ready" wait_for 30 http_ok $Q3/-/ready
rng_res() { curl -fsS --get --data-urlencode "query=$2" --data-urlencode "start=$((BF_START + 1200))" \
  --data-urlencode "end=$((BF_START + 5 * 3600))" --data-urlencode step=600 --data-urlencode "max_source_resolution=$3" \
  "$1/api/v1/query_range" | jq -c '[.data.result[].values]'; }
check "Prometheus as a leaf: max_source_resolution=1h and a rate hint answer as raw" \
  close_ranges "$(rng_res $Q3 'sum(rate(lab_metric[10m]))' 1h)" "$(rng_res $Q3 'sum(rate(lab_metric[10m]))' 0s)"
check "... and as promlab's own data" \
  close_ranges "$(rng_res $Q3 'sum(rate(lab_metric[10m]))' 1h)" "$(rng $PL 'sum(rate(lab_metric[10m]))')"
check "a bad remote-read body gets 400" \
  sh -c "curl -sS -o /dev/null -w '%{http_code}' -X POST --data-binary garbage $S1/api/v1/read | grep -qx 400"

for p in "${_pids[@]}"; do kill "$p" 2>/dev/null; done
sleep 1
check "no sanitizer reports" no_sanitizer_reports "$TMP"/server.log "$TMP"/sidecar*.log "$TMP"/query*.log
[ "$_failed" -eq 0 ]
