#!/usr/bin/env bash
# promlab store over a FILESYSTEM bucket that promlab sidecar filled from a
# promlab server with backfilled blocks:
#  (a) after local retention has dropped a block, its data is still answered
#      through `promlab query --endpoint=server --endpoint=store` from the
#      bucket, and matches what the query returned before (and the server
#      alone no longer has it);
#  (b) the store skips a partial block (no meta.json) and a block whose
#      deletion mark is older than --ignore-deletion-marks-delay, serves one
#      marked recently, drops a block that leaves the bucket; its info
#      endpoint lists the blocks and its metrics count what it did;
# and the same data through `promlab query --endpoint=<sidecar> --endpoint=<store>`
# and through a real Prometheus 2.42 whose remote_read points at the store.
source "$(dirname "$0")/../lib.sh"
source "$ROOT/tests/sidecar_lib.sh"

BUCKET=$TMP/bucket
printf 'type: FILESYSTEM\nconfig:\n  directory: %s\n' "$BUCKET" >"$TMP/bucket.yml"

# --- bad flags: refused with a reason
refused() { # EXIT_CODE REGEX ARGS...: promlab store exits with the code and says why
  local want=$1 re=$2; shift 2
  "$PROMLAB" store "$@" >"$TMP/refused.out" 2>&1
  [ $? = "$want" ] && grep -qE "$re" "$TMP/refused.out"
}
check "no bucket configured: refused" refused 2 'no bucket' --http-address=127.0.0.1:0
check "a bucket config with an error: refused with its position" refused 1 '<objstore.config>:1:1: .*directory' \
  --objstore.config='type: FILESYSTEM' --http-address=127.0.0.1:0
check "an unparsable --min-time: refused" refused 2 'min-time.*yesterday' --objstore.config-file="$TMP/bucket.yml" \
  --min-time=yesterday --http-address=127.0.0.1:0

# --- history: 6 h of 20 series in 4 blocks (first block [B+10m, B+2h))
gen_om "$TMP/in.om" "$BF_START" 6
"$PROMLAB" tool tsdb create-blocks-from openmetrics "$TMP/in.om" "$TMP/data" >"$TMP/bf.log" 2>&1
check "backfill made 4 blocks" [ "$(blocks_of "$TMP/data" | wc -l)" = 4 ]
FIRST=$(for u in $(blocks_of "$TMP/data"); do echo "$(jq .minTime "$TMP/data/$u/meta.json") $u"; done | sort -n | head -1 | cut -d' ' -f2)

S_PORT=$(free_port); SC_PORT=$(free_port); ST_PORT=$(free_port); Q1_PORT=$(free_port); Q2_PORT=$(free_port)
S=http://127.0.0.1:$S_PORT; SC=http://127.0.0.1:$SC_PORT; ST=http://127.0.0.1:$ST_PORT
Q1=http://127.0.0.1:$Q1_PORT; Q2=http://127.0.0.1:$Q2_PORT
write_prom_config "$TMP/p.yml" cluster=lab replica=a
start_server() { # RETENTION
  start_bg "$TMP/server-$1.log" "$PROMLAB" server --config.file="$TMP/p.yml" --storage.tsdb.path="$TMP/data" \
    --web.listen-address=127.0.0.1:$S_PORT --storage.tsdb.min-block-duration=2h --storage.tsdb.max-block-duration=2h \
    --storage.tsdb.retention.time="$1"
  SERVER_PID=$LAST_PID
}
start_server 30d
check "promlab server ready" wait_for 30 http_ok $S/-/ready
start_bg "$TMP/sidecar.log" "$PROMLAB" sidecar --tsdb.path="$TMP/data" --prometheus.url=$S \
  --objstore.config-file="$TMP/bucket.yml" --http-address=127.0.0.1:$SC_PORT --shipper.sync-interval=1s \
  --prometheus.get_config_interval=1s
check "sidecar shipped the 4 blocks" wait_for 30 metric_ge $SC thanos_shipper_uploads_total 4

# --- (b)'s extra blocks: one partial, one marked long ago, one marked an hour ago
extra_block() { # NAME OFFSET_HOURS: a 1 h block of metric NAME, with a thanos section, in the bucket; prints its ULID
  local d="$TMP/extra-$1" t0=$((BF_START - 10 * 3600 + $2 * 3600))
  awk -v n="$1" -v start="$t0" 'BEGIN { print "# TYPE " n " gauge";
    for (i = 0; i < 240; i++) printf "%s{k=\"1\"} %d %d\n", n, i, start + i * 15; print "# EOF" }' >"$d.om"
  "$PROMLAB" tool tsdb create-blocks-from openmetrics "$d.om" "$d" >"$d.log" 2>&1
  local u; u=$(blocks_of "$d")
  jq '. + {thanos: {version: 1, labels: {cluster: "lab", replica: "x"}, downsample: {resolution: 0}, source: "test"}}' \
    "$d/$u/meta.json" >"$d/$u/meta.json.new" && mv "$d/$u/meta.json.new" "$d/$u/meta.json"
  rm -f "$d/$u/tombstones"
  cp -r "$d/$u" "$BUCKET/$u"
  echo "$u"
}
PARTIAL=$(extra_block partial_metric 0); rm "$BUCKET/$PARTIAL/meta.json"
OLDMARK=$(extra_block oldmark_metric 2)
printf '{"id":"%s","version":1,"deletion_time":%d}' "$OLDMARK" $(( $(date +%s) - 25 * 3600 )) >"$BUCKET/$OLDMARK/deletion-mark.json"
NEWMARK=$(extra_block newmark_metric 4)
printf '{"id":"%s","version":1,"deletion_time":%d}' "$NEWMARK" $(( $(date +%s) - 3600 )) >"$BUCKET/$NEWMARK/deletion-mark.json"

start_bg "$TMP/store.log" "$PROMLAB" store --objstore.config-file="$TMP/bucket.yml" --data-dir="$TMP/store-data" \
  --http-address=127.0.0.1:$ST_PORT --sync-block-duration=2s --ignore-deletion-marks-delay=24h --log.level=debug
check "store ready after its first sync" wait_for 30 http_ok $ST/-/ready
check "store loaded the 4 shipped blocks and the recently marked one" \
  [ "$(curl -fsS $ST/api/v1/store/info | jq '.data.blocks | length')" = 5 ]
check "info lists the first block with its labels and time range" \
  [ "$(curl -fsS $ST/api/v1/store/info | jq -c --arg u "$FIRST" '.data.blocks[] | select(.ulid == $u) | [.labels, .minTime, .resolution]')" \
    = "[{\"cluster\":\"lab\",\"replica\":\"a\"},$(jq .minTime "$TMP/data/$FIRST/meta.json"),0]" ]
check "partial block skipped (metric: partial 1)" body_has $ST/metrics '^thanos_blocks_meta_synced\{state="partial"\} 1$'
check "block marked 25h ago skipped (metric: marked-for-deletion 1)" \
  body_has $ST/metrics '^thanos_blocks_meta_synced\{state="marked-for-deletion"\} 1$'
check "only indexes were downloaded at sync (no chunks dir locally)" \
  [ -f "$TMP/store-data/$FIRST/index" -a ! -e "$TMP/store-data/$FIRST/chunks" ]

start_bg "$TMP/query1.log" "$PROMLAB" query --endpoint=$S --http-address=127.0.0.1:$Q1_PORT
start_bg "$TMP/query2.log" "$PROMLAB" query --endpoint=$S --endpoint=$ST --http-address=127.0.0.1:$Q2_PORT
Q3_PORT=$(free_port); Q3=http://127.0.0.1:$Q3_PORT
start_bg "$TMP/query3.log" "$PROMLAB" query --endpoint=$SC --endpoint=$ST --http-address=127.0.0.1:$Q3_PORT
check "the three queries ready" wait_for 30 http_ok $Q1/-/ready
wait_for 30 http_ok $Q2/-/ready
wait_for 30 http_ok $Q3/-/ready

range() { # URL EXPR START END STEP: the sorted result of a range query, canonical
  curl -fsS --get --data-urlencode "query=$2" --data-urlencode "start=$3" --data-urlencode "end=$4" \
    --data-urlencode "step=$5" "$1/api/v1/query_range" | jq -cS '.data.result | sort_by(.metric | tostring)'
}
instant() { curl -fsS --get --data-urlencode "query=$2" --data-urlencode "time=$3" "$1/api/v1/query" | jq -cS '.data.result | sort_by(.metric | tostring)'; }
A=$((BF_START + 600)); Z=$((BF_START + 6000))
range $Q1 'lab_metric' $A $Z 60 >"$TMP/before_raw.json"
range $Q1 'sum by (series) (rate(lab_metric[5m]))' $A $Z 300 >"$TMP/before_rate.json"
instant $Q1 'count_over_time(lab_metric[30m])' $((BF_START + 3600)) >"$TMP/before_count.json"
instant $Q1 'lab_metric' $((BF_START + 3600)) >"$TMP/before_instant.json"
check "recorded answers have 20 series over the first block" \
  [ "$(jq length "$TMP/before_raw.json")" = 20 -a "$(jq '.[0].values | length' "$TMP/before_raw.json")" -gt 80 ]
check "before retention, server + store (the same data twice) answers as the server alone" \
  [ "$(range $Q2 'lab_metric' $A $Z 60)" = "$(cat "$TMP/before_raw.json")" ]

# --- (a) retention drops the first block locally
kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null
start_server 3h
check "promlab server restarted with --storage.tsdb.retention.time=3h" wait_for 30 http_ok $S/-/ready
check "local retention deleted the first block" [ ! -d "$TMP/data/$FIRST" ]
check "the server alone no longer has that data" [ "$(instant $S 'count(lab_metric)' $((BF_START + 3600)))" = "[]" ]
check "query over server + store: raw samples equal the recorded ones" \
  wait_for 20 sh -c "[ \"\$(curl -fsS --get --data-urlencode 'query=lab_metric' --data-urlencode start=$A --data-urlencode end=$Z --data-urlencode step=60 $Q2/api/v1/query_range | jq -cS '.data.result | sort_by(.metric | tostring)')\" = '$(cat "$TMP/before_raw.json")' ]"
check "query over server + store: sum by (series) (rate(...[5m])) equals the recorded one" \
  [ "$(range $Q2 'sum by (series) (rate(lab_metric[5m]))' $A $Z 300)" = "$(cat "$TMP/before_rate.json")" ]
check "query over server + store: count_over_time equals the recorded one" \
  [ "$(instant $Q2 'count_over_time(lab_metric[30m])' $((BF_START + 3600)))" = "$(cat "$TMP/before_count.json")" ]
check "query over sidecar + store (as Thanos): raw samples equal the recorded ones" \
  [ "$(range $Q3 'lab_metric' $A $Z 60)" = "$(cat "$TMP/before_raw.json")" ]
check "query over sidecar + store: the rate equals the recorded one" \
  [ "$(range $Q3 'sum by (series) (rate(lab_metric[5m]))' $A $Z 300)" = "$(cat "$TMP/before_rate.json")" ]
check "store metrics: chunks were range-read from the bucket" \
  body_has $ST/metrics '^thanos_bucket_store_bytes_fetched_total\{kind="chunks"\} [1-9]'

# A real Prometheus (Debian's 2.42) reads the store through its remote_read client (SAMPLES, as the store's log shows).
PR_PORT=$(free_port); PR=http://127.0.0.1:$PR_PORT
printf 'global:\n  scrape_interval: 1h\nremote_read:\n  - url: %s/api/v1/read\n    read_recent: true\nscrape_configs: []\n' "$ST" >"$TMP/prom.yml"
start_bg "$TMP/prometheus.log" "$PROMETHEUS" --config.file="$TMP/prom.yml" --storage.tsdb.path="$TMP/prom-data" \
  --web.listen-address=127.0.0.1:$PR_PORT
check "Prometheus 2.42 with remote_read from the store ready" wait_for 40 http_ok $PR/-/ready
vals() { jq -c '[.[] | {s: .metric.series, c: .metric.cluster, v: .value[1]}] | sort_by(.s)'; }
check "Prometheus reads the dropped block's data from the store, external labels included" \
  [ "$(instant $PR 'lab_metric' $((BF_START + 3600)) | vals)" = "$(vals <"$TMP/before_instant.json")" -a "$(jq length "$TMP/before_instant.json")" = 20 ]
check "the store answered promlab query with STREAMED_XOR_CHUNKS and Prometheus with SAMPLES" \
  sh -c "grep -q 'response_type=STREAMED_XOR_CHUNKS' '$TMP/store.log' && grep -q 'response_type=SAMPLES' '$TMP/store.log'"
check "store labels API: names include the external labels" \
  sh -c "curl -fsS $ST/api/v1/labels | jq -e '.data | index(\"cluster\") and index(\"series\")' >/dev/null"
check "query's label values API sees the store's replicas" \
  sh -c "curl -fsS $Q2/api/v1/label/replica/values | jq -e '.data | index(\"a\") and index(\"x\")' >/dev/null"

# --- (b) what the store serves of the extra blocks
check "partial block's series not served" [ "$(instant $Q2 'partial_metric' $((BF_START - 10 * 3600 + 1800)))" = "[]" ]
check "series of the block marked 25h ago not served" [ "$(instant $Q2 'oldmark_metric' $((BF_START - 8 * 3600 + 1800)))" = "[]" ]
check "series of the block marked 1h ago still served" \
  [ "$(instant $Q2 'newmark_metric' $((BF_START - 6 * 3600 + 1800)) | jq -r '.[0].metric.replica')" = x ]
rm -rf "${BUCKET:?}/$NEWMARK"
check "a block removed from the bucket is dropped at the next sync" \
  wait_for 20 body_has $ST/metrics '^thanos_bucket_store_block_drops_total 1$'
check "its series are gone, its local files too" \
  [ "$(instant $Q2 'newmark_metric' $((BF_START - 6 * 3600 + 1800)))" = "[]" -a ! -e "$TMP/store-data/$NEWMARK" ]
check "bad remote-read body: 400 with a reason" \
  sh -c "curl -sS -o '$TMP/bad.txt' -w '%{http_code}' -X POST --data-binary garbage $ST/api/v1/read | grep -qx 400 && grep -q snappy '$TMP/bad.txt'"
check "store still healthy after it" http_ok $ST/-/healthy

for p in "${_pids[@]}"; do kill "$p" 2>/dev/null; done
sleep 1
check "no sanitizer reports" no_sanitizer_reports "$TMP"/*.log
[ "$_failed" -eq 0 ]
