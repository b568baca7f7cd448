#!/usr/bin/env bash
# Sidecar upload throughput: one 2h block of SERIES random-valued series at 1 s
# (large chunk files), shipped by the release `promlab sidecar` to a FILESYSTEM
# bucket and to s3rver (direct, no SigV4-verifying proxy). Prints MB/s from the
# bucket's upload-operation durations (thanos_objstore_bucket_operation_duration_seconds_sum).
#   SERIES=500 scripts/bench-sidecar.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
P=$PWD/$BUILD/bin/promlab
SERIES=${SERIES:-500}
T=$(mktemp -d /tmp/pl-bench-sidecar.XXXXXX)
pids=()
trap 'for p in "${pids[@]}"; do kill $p 2>/dev/null; done; rm -rf "$T"' EXIT
port() { echo $(( (RANDOM % 20000) + 30000 )); }
start=$(( ($(date +%s) - 4 * 3600) / 7200 * 7200 ))
awk -v n="$SERIES" -v start="$start" 'BEGIN { srand(7); print "# TYPE bench gauge";
  for (s = 0; s < n; s++) for (i = 0; i < 7200; i++) printf "bench{s=\"%d\"} %.6f %d\n", s, rand() * 1000, start + i;
  print "# EOF" }' >"$T/in.om"
mkdir -p "$T/data"
"$P" tool tsdb create-blocks-from openmetrics -q "$T/in.om" "$T/data" >/dev/null
rm -f "$T/in.om"
bytes=$(find "$T/data" -path '*/01*' -type f \( -name index -o -path '*/chunks/*' \) -printf '%s\n' | awk '{s+=$1} END {print s}')
PP=$(port)
printf 'global:\n  external_labels: {bench: "1"}\nscrape_configs: []\n' >"$T/p.yml"
"$P" server --config.file="$T/p.yml" --storage.tsdb.path="$T/data" --web.listen-address=127.0.0.1:$PP \
  --storage.tsdb.min-block-duration=2h --storage.tsdb.max-block-duration=2h >"$T/server.log" 2>&1 & pids+=($!)
S3=$PWD/$BUILD/npm/node_modules/.bin/s3rver
S3P=$(port); mkdir -p "$T/s3"
node "$S3" -d "$T/s3" -a 127.0.0.1 -p $S3P --configure-bucket thanos --no-vhost-buckets -s >/dev/null 2>&1 & pids+=($!)
sleep 2
run() { # NAME CONFIG
  rm -f "$T/data/thanos.shipper.json"
  local hp; hp=$(port)
  "$P" sidecar --tsdb.path="$T/data" --prometheus.url=http://127.0.0.1:$PP --objstore.config="$2" \
    --http-address=127.0.0.1:$hp --shipper.sync-interval=1s >"$T/$1.log" 2>&1 & local sp=$!
  for _ in $(seq 1 600); do
    curl -fsS http://127.0.0.1:$hp/metrics 2>/dev/null | grep -q '^thanos_shipper_uploads_total [1-9]' && break; sleep 0.2
  done
  local secs
  secs=$(curl -fsS http://127.0.0.1:$hp/metrics | awk '/operation_duration_seconds_sum\{.*operation="upload"/ {print $NF}')
  kill $sp; wait $sp 2>/dev/null || true
  awk -v b="$bytes" -v s="$secs" -v n="$1" 'BEGIN { printf "%-28s %8.1f MB in %6.2f s  %8.1f MB/s\n", n, b / 1e6, s, b / 1e6 / s }'
}
run "FILESYSTEM" "type: FILESYSTEM
config: {directory: $T/bucket}"
run "S3 (s3rver, single PUTs)" "type: S3
config: {bucket: thanos, endpoint: 127.0.0.1:$S3P, access_key: S3RVER, secret_key: S3RVER, insecure: true}"
run "S3 (s3rver, 5 MiB parts)" "type: S3
config: {bucket: thanos, endpoint: 127.0.0.1:$S3P, access_key: S3RVER, secret_key: S3RVER, insecure: true, part_size: 5242880}
prefix: multipart"
