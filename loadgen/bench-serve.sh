#!/usr/bin/env bash
# bench-serve.sh — how fast `promlab-loadgen serve` hands out a 1M-series scrape.
# Serves avalanche's default shape (10 labels) at 1000 gauges x 1000 series, waits
# for the first render, then times 5 fetches of each variant with curl and
# writes reports/loadgen-serve/serve.md. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
LG=$BUILD/bin/promlab-loadgen
OUT=reports/loadgen-serve
mkdir -p "$OUT"
PORT=${PORT:-19555}
"$LG" serve --port=$PORT --gauge-metric-count=1000 --series-count=1000 --value-interval=0 --series-interval=0 \
  --duration=600s >"$OUT/serve.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null' EXIT
for _ in $(seq 1 100); do curl -fsS -o /dev/null "http://127.0.0.1:$PORT/health" 2>/dev/null && break; sleep 0.1; done
fetch() { # label, curl args...
  local label=$1; shift
  # the first fetch renders this variant; the next five are served from the rendered bytes
  curl -fsS -o /dev/null -w '%{time_total}' "$@" "http://127.0.0.1:$PORT/metrics" >"$OUT/.first"
  local first; first=$(cat "$OUT/.first")
  local times=() size=0
  for _ in 1 2 3 4 5; do
    read -r t s < <(curl -fsS -o /dev/null -w '%{time_total} %{size_download}\n' "$@" "http://127.0.0.1:$PORT/metrics")
    times+=("$t"); size=$s
  done
  local sorted; sorted=$(printf '%s\n' "${times[@]}" | sort -n)
  local med; med=$(echo "$sorted" | sed -n 3p)
  local max; max=$(echo "$sorted" | tail -1)
  awk -v l="$label" -v s="$size" -v f="$first" -v m="$med" -v x="$max" \
    'BEGIN { printf "| %s | 1000000 | %.1f | %.3f | %.3f | %.3f | %.0f |\n", l, s / 1e6, f, m, x, s / 1e6 / m }'
}
{
  echo "# promlab-loadgen serve: a 1M-series scrape"
  echo
  echo "Measured $(date -u +%Y-%m-%dT%H:%MZ) on this machine ($(nproc) cores, shared), loopback, curl to /dev/null."
  echo "Shape: avalanche defaults (10 labels per series), 1000 gauges x 1000 series."
  echo "\"first\" includes rendering that variant; the rest are served from the pre-rendered bytes."
  echo
  echo "| variant | series | body MB | first s | median s | max s | MB/s (median) |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
  fetch "text 0.0.4" 
  fetch "text 0.0.4 + gzip" -H 'Accept-Encoding: gzip'
  fetch "OpenMetrics" -H 'Accept: application/openmetrics-text;version=1.0.0'
  fetch "OpenMetrics + gzip" -H 'Accept: application/openmetrics-text;version=1.0.0' -H 'Accept-Encoding: gzip'
  echo
  echo "Rerun: \`loadgen/bench-serve.sh\`"
} | tee "$OUT/serve.md"
rm -f "$OUT/.first"
