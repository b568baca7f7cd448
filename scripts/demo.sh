#!/usr/bin/env bash
# make demo — the interview walkthrough. Runs the labs in order (natively,
# through promlab-lab) and tells the production story at lab scale with
# figures measured right now, never the story's own numbers:
#   1. the base stack: what one server holds and what it costs
#   2. federation: one view over three environments
#   3. long-term storage: blocks cut and shipped to a bucket
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

for port in 9090 9091 9092 9093 9094 9100 9101 9102 10902; do
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
say "## 3. Long-term storage: blocks shipped to a bucket (labs/phase3)"
up_lab 3
t0=$SECONDS
wait_until 240 sh -c 'ls labs/phase3/.data/thanos-bucket/*/meta.json' && shipped=$((SECONDS - t0)) || shipped=""
say ""
if [ -n "$shipped" ]; then
  say "- first block cut (1m blocks) and shipped to the FILESYSTEM bucket after $shipped s"
  say "- bucket: $(ls -d labs/phase3/.data/thanos-bucket/*/ | wc -l) block(s), $(du -sh labs/phase3/.data/thanos-bucket | cut -f1); labels in meta.json: $(jq -c .thanos.labels labs/phase3/.data/thanos-bucket/*/meta.json | head -1)"
  say "- sidecar uploads: $(metric 10902 thanos_shipper_uploads_total)"
else
  say "- no block reached the bucket within 240 s (see labs/phase3/.data/logs/)"
fi
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
