#!/usr/bin/env bash
# make demo — the interview walkthrough. Runs the labs in order (natively,
# through promlab-lab) and tells the production story at lab scale with
# figures measured right now, never the story's own numbers:
#   1. the base stack: what one server holds and what it costs
#   2. federation: one view over three environments
#   3. long-term storage: replicas deduplicated, blocks shipped to a bucket,
#      history answered from it after local retention dropped it
#   4. tuning: a cardinality explosion, its cure (series and memory before and
#      after), and a dashboard query raw vs from a recording rule
# Writes reports/demo.md. DEMO_KEEP=1 leaves lab 4 running at the end.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
LAB="$BUILD/bin/promlab-lab"
REPORT=${DEMO_REPORT:-reports/demo.md}
export PROMLAB_BIN=${PROMLAB_BIN:-$PWD/$BUILD/bin/promlab}
current=""
stop() { [ -n "$current" ] && "$LAB" down "$current" >/dev/null 2>&1; current=""; }
trap 'stop' EXIT
trap 'exit 130' INT TERM

for port in 9090 9091 9092 9093 9094 9100 9101 9102 10902 10904 10906 10908 10912; do
  if ss -ltn "sport = :$port" | grep -q LISTEN; then
    echo "demo: port $port is in use; stop what listens there (ss -ltnp 'sport = :$port') and retry." >&2
    exit 1
  fi
done

say() { printf '%s\n' "$*"; printf '%s\n' "$*" >>"$REPORT.tmp"; }
q() { curl -fsS --get --data-urlencode "query=$2" "http://127.0.0.1:$1/api/v1/query" | jq -r '.data.result[0].value[1] // "none"'; }
metric() { curl -fsS "http://127.0.0.1:$1/metrics" | awk -v m="$2" '$1 == m {print $2; exit}'; }
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
wait_until() { local t=$1; shift; for _ in $(seq 1 $((t * 2))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.5; done; return 1; }
up_lab() {
  current=labs/phase$1
  rm -rf "$current/.data"
  "$LAB" up "$current" | sed 's/^/    /' || { echo "demo: lab $1 did not start; see $current/.data/logs/" >&2; exit 1; }
}
# median_ms PORT QUERY N: median wall time of N instant queries, in ms.
median_ms() {
  local i
  for i in $(seq 1 "$3"); do
    curl -fsS -o /dev/null -w '%{time_total}\n' --get --data-urlencode "query=$2" "http://127.0.0.1:$1/api/v1/query"
  done | sort -n | awk '{ v[NR] = $1 } END { printf "%.1f", v[int((NR + 1) / 2)] * 1000 }'
}

mkdir -p "$(dirname "$REPORT")"
: >"$REPORT.tmp"
say "# promlab demo — measured $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) cores"
say ""
say "Every figure below was measured by this run (scripts/demo.sh), at lab scale."

# ---- 1 ---------------------------------------------------------------------------
say ""
say "## 1. The base stack (labs/phase1)"
up_lab 1
wait_until 30 sh -c "[ \"\$(curl -fsS --get --data-urlencode 'query=count(up == 1)' http://127.0.0.1:9090/api/v1/query | jq -r '.data.result[0].value[1]')\" = 2 ]"
sleep 6
say ""
say "- targets up: $(q 9090 'count(up == 1)') of $(q 9090 'count(up)') (the server itself and node_exporter)"
say "- series in the head: $(metric 9090 prometheus_tsdb_head_series); resident memory: $(mib "$(metric 9090 process_resident_memory_bytes)")"
say "- node_exporter scrape: $(q 9090 'scrape_samples_scraped{job="node"}') samples in $(q 9090 'round(scrape_duration_seconds{job="node"} * 1000, 0.1)') ms"
say "- retention: $(curl -fsS http://127.0.0.1:9090/api/v1/status/flags | jq -r '.data["storage.tsdb.retention.time"] + " / " + .data["storage.tsdb.retention.size"]') (time / size), WAL on disk: $(du -sh labs/phase1/.data/prometheus-data/wal | cut -f1)"
stop

# ---- 2 ---------------------------------------------------------------------------
say ""
say "## 2. Federation: one view over dev, staging and prod (labs/phase2)"
up_lab 2
wait_until 40 sh -c "[ \"\$(curl -fsS --get --data-urlencode 'query=count(count by (env) (http_requests_total))' http://127.0.0.1:9090/api/v1/query | jq -r '.data.result[0].value[1]')\" = 3 ]"
leaf=$(metric 9093 prometheus_tsdb_head_series)
say ""
say "- environments visible on the main server: $(q 9090 'count(count by (env) (http_requests_total))')"
say "- series on one leaf: $leaf; federated into the main server per leaf: $(q 9090 'scrape_samples_scraped{job="federate",instance="localhost:9093"}') (match[] keeps node metrics home)"
say "- federation scrape of one leaf: $(q 9090 'round(scrape_duration_seconds{job="federate",instance="localhost:9093"} * 1000, 0.1)') ms"
say "- requests served by the API in prod, on its leaf and on the main server: $(q 9093 'sum(http_requests_total)') / $(q 9090 'sum(http_requests_total{env="prod"})')"
stop

# ---- 3 ---------------------------------------------------------------------------
say ""
say "## 3. Long-term storage: replicas, a bucket, history after local retention (labs/phase3)"
up_lab 3
# at PORT EXPR TIME [EXTRA]: the first value of an instant query evaluated at TIME.
at() { curl -fsS --get --data-urlencode "query=$2" --data-urlencode "time=$3" ${4:+--data "$4"} "http://127.0.0.1:$1/api/v1/query" | jq -r '.data.result[0].value[1] // "none"'; }
wait_until 30 sh -c "[ \"\$(curl -fsS --get --data-urlencode 'query=count(up{job=\"node\"})' --data dedup=false http://127.0.0.1:10904/api/v1/query | jq -r '.data.result[0].value[1]')\" = 2 ]"
sleep 6
t0=$(date +%s)
t_start=$SECONDS
# The samples replica a holds for the 10 s before t0, asked once they are settled
# (a block holding them has been cut and shipped).
wait_until 90 sh -c 'ls labs/phase3/.data/thanos-bucket/*/meta.json' && shipped=$((SECONDS - t_start)) || shipped=""
before=$(at 9090 'count_over_time(up{job="node"}[10s])' "$t0")
# Retention (30 s on 10 s blocks) drops t0 from replica a's disk.
wait_until 120 sh -c "[ \"\$(curl -fsS --get --data-urlencode 'query=count_over_time(up{job=\"node\"}[10s])' --data-urlencode time=$t0 http://127.0.0.1:9090/api/v1/query | jq -r '.data.result | length')\" = 0 ]" \
  && dropped=$((SECONDS - t_start)) || dropped=""
sleep 6 # the store's next sync and query's next look at its endpoints
after=$(at 10904 'count_over_time(up{job="node",replica="a"}[10s])' "$t0" dedup=false)
bucket_a=$(jq -r .thanos.labels.replica labs/phase3/.data/thanos-bucket/*/meta.json 2>/dev/null | grep -c '^a$')
bucket_b=$(jq -r .thanos.labels.replica labs/phase3/.data/thanos-bucket/*/meta.json 2>/dev/null | grep -c '^b$')
local_a=$(ls -d labs/phase3/.data/prometheus-a-data/01*/ 2>/dev/null | wc -l)
say ""
say "- two replicas (external labels differ only in replica), 8 targets each: $(q 10904 'count(up)') up series through query, $(curl -fsS --get --data-urlencode 'query=count(up)' --data dedup=false http://127.0.0.1:10904/api/v1/query | jq -r '.data.result[0].value[1]') with dedup=false"
if [ -n "$shipped" ]; then
  say "- first block (10 s blocks) in the FILESYSTEM bucket $shipped s after t0"
else
  say "- no block reached the bucket within 90 s (see labs/phase3/.data/logs/)"
fi
if [ -n "$dropped" ]; then
  say "- local retention (30 s) dropped t0 from replica a $dropped s after t0: replica a now answers $(at 9090 'count_over_time(up{job="node"}[10s])' "$t0") for t0, replica b $(at 9091 'count_over_time(up{job="node"}[10s])' "$t0")"
else
  say "- replica a still held t0 after 120 s (retention did not run; see labs/phase3/.data/logs/)"
fi
say "- blocks shipped: $bucket_a from replica a, $bucket_b from replica b ($(du -sh labs/phase3/.data/thanos-bucket | cut -f1)); replica a keeps $local_a on disk; the store serves $(q 10904 'max(thanos_bucket_store_blocks_loaded)')"
if [ "$before" = "$after" ] && [ "$before" != none ]; then verdict="equal"; else verdict="NOT equal"; fi
say "- history answered from the bucket after local retention dropped it: node's up samples in the 10 s before t0, replica a before retention $before, through query (store) after $after: $verdict"
say "- the compactor: $(q 10904 'max(thanos_compact_iterations_total)') passes, halted $(q 10904 'max(thanos_compact_halted)')"
stop

# ---- 4 ---------------------------------------------------------------------------
say ""
say "## 4. Tuning: a cardinality explosion and its cure (labs/phase4)"
up_lab 4
wait_until 60 sh -c "[ \"\$(curl -fsS --get --data-urlencode 'query=count(endpoint:http_requests:rate5m)' http://127.0.0.1:9090/api/v1/query | jq -r '.data.result[0].value[1]')\" = 8 ]"
sleep 10
before=$(metric 9090 prometheus_tsdb_head_series); after=$(metric 9091 prometheus_tsdb_head_series)
rss_before=$(metric 9090 process_resident_memory_bytes); rss_after=$(metric 9091 process_resident_memory_bytes)
raw='sum by (endpoint) (rate(http_requests_total[5m]))'
rec='endpoint:http_requests:rate5m'
say ""
say "- the culprit, by the audit query topk(10, count by (__name__)({__name__!=\"\"})): $(curl -fsS --get --data-urlencode 'query=topk(1, count by (__name__)({__name__!=""}))' http://127.0.0.1:9090/api/v1/query | jq -r '.data.result[0] | .metric.__name__ + " with " + .value[1] + " series"')"
say "- the label behind it (/api/v1/status/tsdb): $(curl -fsS http://127.0.0.1:9090/api/v1/status/tsdb | jq -r '[.data.labelValueCountByLabelName[] | select(.name != "__name__")][0] | .name + " with " + (.value|tostring) + " values"')"
say "- active series before / after the cure (labeldrop user_id): $before / $after"
say "- resident memory before / after: $(mib "$rss_before") / $(mib "$rss_after")"
say "- the guard: up{job=\"api-guarded\"} = $(q 9090 'up{job="api-guarded"}') (sample_limit 1000 exceeded $(q 9090 'prometheus_target_scrapes_exceeded_sample_limit_total{job="self"}') times)"
say "- dashboard query, median of 20: raw \`$raw\` $(median_ms 9090 "$raw" 20) ms; recording rule \`$rec\` $(median_ms 9090 "$rec" 20) ms"
say "- alert CardinalityExplosion on server 1: $(q 9090 'ALERTS{alertname="CardinalityExplosion"}' | sed 's/none/not yet firing/;s/^1$/firing/'); in Alertmanager: $(curl -fsS 'http://127.0.0.1:9093/api/v2/alerts' | jq '[.[] | select(.labels.alertname == "CardinalityExplosion")] | length') alert(s)"
if [ -n "${DEMO_KEEP:-}" ]; then
  say ""
  say "Lab 4 is still running: http://127.0.0.1:9090 (before), http://127.0.0.1:9091 (after). Stop it with: $LAB down labs/phase4"
  current=""
fi
stop
mv "$REPORT.tmp" "$REPORT"
echo
echo "wrote $REPORT"
