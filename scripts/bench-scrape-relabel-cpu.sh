#!/usr/bin/env bash
# Scrape + metric relabeling + ingest, CPU per scraped sample: promlab and
# Debian's Prometheus 2.42 side by side, scraping the same avalanche-shaped
# target (bench_exporter) of SERIES series every 15 s for MINUTES minutes,
# with the same metric_relabel_configs (drop 10 of the 100 metric names,
# labeldrop cycle_id, add a label). CPU is the server process's user+system
# time (/proc/PID/stat) over the run after the first two scrapes, divided by
# the samples scraped in that time. Prints and writes
# reports/bench/scrape-relabel-cpu-<series>.txt.
#
#   scripts/bench-scrape-relabel-cpu.sh [SERIES] [MINUTES]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
SERIES=${1:-100000}
MINUTES=${2:-4}
EXP_PORT=${EXP_PORT:-19300}
P_PORT=${P_PORT:-19301}
R_PORT=${R_PORT:-19302}
OUT=reports/bench; mkdir -p "$OUT"
TMP=$(mktemp -d /tmp/promlab-bench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]:-}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT

"$BUILD/bin/bench_exporter" --targets=1 --series="$SERIES" --port="$EXP_PORT" 2>"$TMP/exporter.log" &
pids+=($!)
cat >"$TMP/prometheus.yml" <<YML
global:
  scrape_interval: 15s
  scrape_timeout: 14s
scrape_configs:
  - job_name: avalanche
    static_configs: [{targets: ['127.0.0.1:$EXP_PORT']}]
    metric_relabel_configs:
      - source_labels: [__name__]
        regex: 'avalanche_metric_mmmmm_[0-9]*1_0'
        action: drop
      - regex: cycle_id
        action: labeldrop
      - source_labels: [__name__]
        regex: 'avalanche_metric_mmmmm_([0-9]*)_0'
        target_label: family
        replacement: 'f\$1'
YML
"$BUILD/bin/promlab" server --config.file="$TMP/prometheus.yml" --storage.tsdb.path="$TMP/p" \
  --web.listen-address=127.0.0.1:$P_PORT --log.level=warn 2>"$TMP/promlab.log" &
P_PID=$!; pids+=($P_PID)
prometheus --config.file="$TMP/prometheus.yml" --storage.tsdb.path="$TMP/r" \
  --web.listen-address=127.0.0.1:$R_PORT --log.level=warn 2>"$TMP/prometheus.log" &
R_PID=$!; pids+=($R_PID)

cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
scraped() { # sum of scrape_samples_scraped over the run so far
  curl -fsS --get --data-urlencode 'query=sum_over_time(scrape_samples_scraped[1h])' "$1/api/v1/query" |
    jq -r '.data.result[0].value[1] // "0"'
}
stored() {
  curl -fsS --get --data-urlencode 'query=scrape_samples_post_metric_relabeling' "$1/api/v1/query" |
    jq -r '.data.result[0].value[1] // "0"'
}
P=http://127.0.0.1:$P_PORT; R=http://127.0.0.1:$R_PORT
for _ in $(seq 1 150); do
  [ "$(scraped $P 2>/dev/null)" != 0 ] && [ "$(scraped $R 2>/dev/null)" != 0 ] && break
  sleep 1
done
sleep 20 # past the second scrape: the series exist, the caches are warm
tick=$(getconf CLK_TCK)
p0=$(cpu $P_PID); r0=$(cpu $R_PID); ps0=$(scraped $P); rs0=$(scraped $R)
sleep $((MINUTES * 60))
p1=$(cpu $P_PID); r1=$(cpu $R_PID); ps1=$(scraped $P); rs1=$(scraped $R)
{
  echo "scrape + metric relabeling + ingest: $SERIES series, one target, 15s interval, $MINUTES min steady state"
  echo "(metric_relabel_configs: drop 10% of the metric names, labeldrop cycle_id, add a label)"
  printf '%-22s %12s %14s %16s %14s\n' server cpu_seconds samples_scraped ns_cpu_per_sample stored_per_scrape
  awk -v c="$(( p1 - p0 ))" -v t="$tick" -v s="$(echo "$ps1 - $ps0" | bc)" -v k="$(stored $P)" \
    'BEGIN { printf "%-22s %12.2f %14d %16.0f %14d\n", "promlab", c / t, s, s ? c / t / s * 1e9 : 0, k }'
  awk -v c="$(( r1 - r0 ))" -v t="$tick" -v s="$(echo "$rs1 - $rs0" | bc)" -v k="$(stored $R)" \
    'BEGIN { printf "%-22s %12.2f %14d %16.0f %14d\n", "prometheus 2.42", c / t, s, s ? c / t / s * 1e9 : 0, k }'
  echo "(CPU includes everything each server does in that time: scrapes, WAL, its own housekeeping;"
  echo " the machine was shared, load average $(cut -d' ' -f1 /proc/loadavg))"
} | tee "$OUT/scrape-relabel-cpu-$SERIES.txt"
