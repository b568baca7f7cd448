#!/usr/bin/env bash
# make demo — the main walkthrough as it stands: promlab server on :9090
# scraping itself and a real node_exporter on :9100 (lab 1's base stack),
# with lab 1's retention flags. Prints what it sees and where to look, then
# keeps running until Ctrl-C (or for DEMO_SECONDS seconds if set).
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
DATA=${DEMO_DATA:-$PWD/$BUILD/demo-data}
mkdir -p "$DATA" "$BUILD/demo-logs"
pids=()
stop() { for p in "${pids[@]:-}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; echo; echo "demo stopped."; }
trap stop EXIT
trap 'exit 0' INT TERM

for port in 9090 9100; do
  if ss -ltn "sport = :$port" | grep -q LISTEN; then
    echo "demo: port $port is in use; stop what listens there (ss -ltnp 'sport = :$port') and retry." >&2
    exit 1
  fi
done

prometheus-node-exporter --web.listen-address=127.0.0.1:9100 >"$BUILD/demo-logs/node_exporter.log" 2>&1 &
pids+=($!)
"$BUILD/bin/promlab" server --config.file=configs/demo/prometheus.yml --storage.tsdb.path="$DATA" \
  --storage.tsdb.retention.time=15d --storage.tsdb.retention.size=5GB \
  --web.listen-address=127.0.0.1:9090 --web.enable-lifecycle >"$BUILD/demo-logs/promlab.log" 2>&1 &
pids+=($!)

echo "promlab demo: server on http://localhost:9090, node_exporter on http://localhost:9100"
for _ in $(seq 1 80); do curl -fsS -o /dev/null http://localhost:9090/-/ready 2>/dev/null && break; sleep 0.25; done
echo "waiting for the first scrapes (interval 15s, spread over the interval)..."
q() { curl -fsS --get --data-urlencode "query=$1" http://localhost:9090/api/v1/query; }
for _ in $(seq 1 40); do
  n=$(q 'up' | jq '.data.result | length' 2>/dev/null || echo 0)
  [ "${n:-0}" -ge 2 ] && break
  sleep 1
done
echo
echo "up:"
q 'up' | jq -r '.data.result[] | "  \(.metric.job)\t\(.metric.instance)\tup=\(.value[1])"'
echo "node_cpu_seconds_total series: $(q 'node_cpu_seconds_total' | jq '.data.result | length')"
echo "head series now: $(curl -fsS http://localhost:9090/metrics | awk '/^prometheus_tsdb_head_series /{print $2}')"
cat <<TXT

Where to look:
  curl -s 'http://localhost:9090/api/v1/query?query=up' | jq
  curl -s 'http://localhost:9090/api/v1/query?query=node_load1' | jq
  curl -s  http://localhost:9090/api/v1/targets | jq
  curl -s  http://localhost:9090/metrics | grep prometheus_tsdb_head
  curl -s  http://localhost:9090/api/v1/status/config | jq -r .data.yaml
  curl -X POST http://localhost:9090/-/reload      # after editing configs/demo/prometheus.yml
Logs: $BUILD/demo-logs/. Ctrl-C stops the demo.
TXT
if [ -n "${DEMO_SECONDS:-}" ]; then sleep "$DEMO_SECONDS"; else while kill -0 "${pids[1]}" 2>/dev/null; do sleep 1; done; fi
