#!/usr/bin/env bash
# End-to-end head memory benchmark: a server scrapes SERIES series (spread
# over TARGETS avalanche-shaped targets) every 15 s for MINUTES minutes; its
# RSS is sampled every 5 s. Prints and writes reports/bench/scrape-memory-<server>-<series>.json.
#
#   scripts/bench-scrape-memory.sh [SERIES] [MINUTES] [SERVER]
#   SERVER: promlab (default) or prometheus (Debian's 2.42, if installed)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
SERIES=${1:-1000000}
MINUTES=${2:-10}
SERVER=${3:-promlab}
TARGETS=${TARGETS:-10}
PER_TARGET=$((SERIES / TARGETS))
INTERVAL=${INTERVAL:-15s}
EXP_PORT=${EXP_PORT:-19100}
SRV_PORT=${SRV_PORT:-19090}
OUT=reports/bench; mkdir -p "$OUT"
TMP=$(mktemp -d /tmp/promlab-bench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]:-}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT

"$BUILD/bin/bench_exporter" --targets="$TARGETS" --series="$PER_TARGET" --port="$EXP_PORT" 2>"$TMP/exporter.log" &
pids+=($!)
targets=""
for i in $(seq 0 $((TARGETS - 1))); do targets+="'127.0.0.1:$((EXP_PORT + i))', "; done
cat >"$TMP/prometheus.yml" <<YML
global:
  scrape_interval: $INTERVAL
  scrape_timeout: 14s
scrape_configs:
  - job_name: avalanche
    static_configs:
      - targets: [${targets%, }]
YML

case "$SERVER" in
  promlab)
    "$BUILD/bin/promlab" server --config.file="$TMP/prometheus.yml" --storage.tsdb.path="$TMP/data" \
      --web.listen-address=127.0.0.1:$SRV_PORT --log.level=warn 2>"$TMP/server.log" &
    ;;
  prometheus)
    prometheus --config.file="$TMP/prometheus.yml" --storage.tsdb.path="$TMP/data" \
      --web.listen-address=127.0.0.1:$SRV_PORT --log.level=warn 2>"$TMP/server.log" &
    ;;
  *) echo "unknown server $SERVER" >&2; exit 2 ;;
esac
SPID=$!
pids+=($SPID)
for _ in $(seq 1 100); do curl -fsS -o /dev/null http://127.0.0.1:$SRV_PORT/-/ready 2>/dev/null && break; sleep 0.2; done

samples="$TMP/samples.tsv"
end=$((SECONDS + MINUTES * 60))
t0=$SECONDS
while [ $SECONDS -lt $end ]; do
  rss=$(awk '/^VmRSS/{print $2*1024}' /proc/$SPID/status)
  hwm=$(awk '/^VmHWM/{print $2*1024}' /proc/$SPID/status)
  hs=$(curl -fsS --get --data-urlencode 'query=prometheus_tsdb_head_series' http://127.0.0.1:$SRV_PORT/api/v1/query 2>/dev/null \
       | jq -r '.data.result[0].value[1] // 0' 2>/dev/null || echo 0)
  # promlab does not scrape itself here; read its head series from /metrics instead.
  if [ "$hs" = "0" ]; then
    hs=$(curl -fsS http://127.0.0.1:$SRV_PORT/metrics | awk '/^prometheus_tsdb_head_series /{print $2}')
  fi
  printf '%d\t%s\t%s\t%s\n' $((SECONDS - t0)) "$rss" "$hwm" "${hs:-0}" >>"$samples"
  sleep 5
done

# Steady state: the mean RSS over the last 2 minutes (or last third if shorter).
tail_n=$(( MINUTES >= 4 ? 24 : ( $(wc -l <"$samples") / 3 + 1 ) ))
steady=$(tail -n "$tail_n" "$samples" | awk '{s+=$2; n++} END {printf "%.0f", s/n}')
peak=$(awk 'BEGIN{m=0} {if ($3>m) m=$3} END {print m}' "$samples")
series=$(tail -n 1 "$samples" | cut -f4 | awk '{printf "%d", $1}')
bps=$(awk -v s="$steady" -v n="$series" 'BEGIN {printf "%.0f", (n>0? s/n : 0)}')
ratio=$(awk -v p="$peak" -v s="$steady" 'BEGIN {printf "%.2f", p/s}')
json="$OUT/scrape-memory-$SERVER-$SERIES.json"
jq -n --arg server "$SERVER" --argjson series_target "$SERIES" --argjson head_series "${series:-0}" \
  --argjson minutes "$MINUTES" --argjson targets "$TARGETS" --arg interval "$INTERVAL" \
  --argjson steady "$steady" --argjson peak "$peak" --argjson bps "$bps" --argjson ratio "$ratio" \
  --arg date "$(date -u +%FT%TZ)" --rawfile samples "$samples" \
  '{server:$server, date:$date, series_target:$series_target, head_series:$head_series, targets:$targets,
    scrape_interval:$interval, minutes:$minutes, steady_rss_bytes:$steady, peak_rss_bytes:$peak,
    bytes_per_series:$bps, peak_over_steady:$ratio,
    samples: ($samples | split("\n") | map(select(length>0) | split("\t") | map(tonumber))
              | map({t:.[0], rss:.[1], hwm:.[2], head_series:.[3]}))}' >"$json"
printf '%s %d series (%s targets, %s, %d min): steady RSS %.1f MiB = %d B/series; peak %.1f MiB (%.2fx steady)\n' \
  "$SERVER" "$series" "$TARGETS" "$INTERVAL" "$MINUTES" "$(awk -v s=$steady 'BEGIN{print s/1048576}')" "$bps" \
  "$(awk -v s=$peak 'BEGIN{print s/1048576}')" "$ratio"
echo "wrote $json"
