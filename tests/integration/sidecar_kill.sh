#!/usr/bin/env bash
# The sidecar killed (-9) in the middle of a block's upload to S3 (s3rver behind
# the SigV4-verifying proxy, which here holds each request 400 ms so the kill
# lands mid-block), then restarted: the partial block is never a block (no
# meta.json, so no reader lists it), the restarted sidecar uploads it again in
# full, nothing already shipped is uploaded twice, and nothing is lost.
source "$(dirname "$0")/../lib.sh"
source "$ROOT/tests/sidecar_lib.sh"

NPM_DIR=$ROOT/$BUILD/npm
S3RVER=$NPM_DIR/node_modules/.bin/s3rver
if [ ! -x "$S3RVER" ]; then
  mkdir -p "$NPM_DIR"
  npm install --prefix "$NPM_DIR" --no-audit --no-fund --loglevel=error s3rver@3.7.1 >"$TMP/npm.log" 2>&1
fi
check "s3rver is installed (npm)" test -x "$S3RVER"
[ -x "$S3RVER" ] || exit 1

S3_PORT=$(free_port); PX_PORT=$(free_port)
mkdir -p "$TMP/s3data"
start_bg "$TMP/s3rver.log" node "$S3RVER" -d "$TMP/s3data" -a 127.0.0.1 -p $S3_PORT --configure-bucket thanos --no-vhost-buckets
start_proxy() { # DELAY_MS
  start_bg "$TMP/proxy.log" node "$ROOT/tests/integration/s3_sigv4_proxy.js" $PX_PORT $S3_PORT S3RVER S3RVER "$1"
  PX_PID=$LAST_PID
  wait_for 20 http_ok http://127.0.0.1:$PX_PORT/__proxy_stats
}
check "s3rver is up" wait_for 20 sh -c "curl -s -o /dev/null http://127.0.0.1:$S3_PORT/"
check "the slow SigV4 verifier is up" start_proxy 400
cat >"$TMP/s3.yml" <<YML
type: S3
config:
  bucket: thanos
  endpoint: 127.0.0.1:$PX_PORT
  access_key: S3RVER
  secret_key: S3RVER
  insecure: true
  part_size: 8192
YML

gen_om "$TMP/in.om" "$BF_START" 4
mkdir -p "$TMP/data"
"$PROMLAB" tool tsdb create-blocks-from openmetrics "$TMP/in.om" "$TMP/data" >/dev/null 2>&1
check "backfill made 3 blocks" [ "$(blocks_of "$TMP/data" | wc -l)" = 3 ]
P_PORT=$(free_port)
write_prom_config "$TMP/p.yml" cluster=kill
start_bg "$TMP/server.log" "$PROMLAB" server --config.file="$TMP/p.yml" --storage.tsdb.path="$TMP/data" \
  --web.listen-address=127.0.0.1:$P_PORT --storage.tsdb.min-block-duration=2h --storage.tsdb.max-block-duration=2h
check "promlab server ready" wait_for 20 http_ok http://127.0.0.1:$P_PORT/-/ready

S_PORT=$(free_port); S=http://127.0.0.1:$S_PORT
start_sidecar() {
  start_bg "$TMP/sidecar$1.log" "$PROMLAB" sidecar --tsdb.path="$TMP/data" --prometheus.url=http://127.0.0.1:$P_PORT \
    --objstore.config-file="$TMP/s3.yml" --http-address=127.0.0.1:$S_PORT --shipper.sync-interval=1s
  SC=$LAST_PID
}
# First block's minTime order: the oldest is shipped first.
oldest=$(for u in $(blocks_of "$TMP/data"); do echo "$(jq .minTime "$TMP/data/$u/meta.json") $u"; done | sort -n | head -1 | cut -d' ' -f2)
start_sidecar 1
# Kill once the oldest block's chunk file is complete: its index is then in flight, its meta.json not sent.
check "upload of the oldest block under way" wait_for 30 grep -qE "$oldest/chunks/000001\?uploadId=[0-9a-f]+ 200" "$TMP/s3rver.log"
kill -9 "$SC"; wait "$SC" 2>/dev/null
sleep 1  # let the proxy pass on what it held
check "killed mid-block: no meta.json for it in the bucket" \
  [ "$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$S3_PORT/thanos/$oldest/meta.json)" = 404 ]
check "killed mid-block: not recorded in thanos.shipper.json" \
  sh -c "! grep -qs '$oldest' '$TMP/data/thanos.shipper.json'"
list=$(curl -fsS "http://127.0.0.1:$S3_PORT/thanos?list-type=2" || echo FAILED)
n_meta=$(echo "$list" | grep -o '<Key>01[A-Z0-9]*/meta.json</Key>' | wc -l)
check "the bucket holds the partial block's chunks" sh -c "echo '$list' | grep -q '<Key>$oldest/chunks/000001</Key>'"
check "... but no block is complete (meta.json objects: $n_meta)" [ "$n_meta" = 0 ]

kill "$PX_PID"; wait "$PX_PID" 2>/dev/null
PX_PORT=$(free_port)
sed -i "s/endpoint: .*/endpoint: 127.0.0.1:$PX_PORT/" "$TMP/s3.yml"
check "verifier back without delay" start_proxy 0
start_sidecar 2
check "restarted: all 3 blocks shipped, the partial one again in full" wait_for 30 metric_ge $S thanos_shipper_uploads_total 3
for u in $(blocks_of "$TMP/data"); do
  mkdir -p "$TMP/got/$u/chunks"
  for f in meta.json index chunks/000001; do curl -fsS -o "$TMP/got/$u/$f" "http://127.0.0.1:$S3_PORT/thanos/$u/$f"; done
done
good=0
for u in $(blocks_of "$TMP/data"); do check_shipped_block "$TMP/data" "$u" "$TMP/got/$u" '{"cluster":"kill"}' && good=$((good + 1)); done
check "all blocks complete and byte-identical after the restart ($good)" [ $good = 3 ]
check "thanos.shipper.json lists each block once" \
  [ "$(jq -r '.uploaded[]' "$TMP/data/thanos.shipper.json" | sort | uniq -c | awk '$1 == 1' | wc -l)" = 3 ]
kill "$SC"; wait "$SC" 2>/dev/null
start_sidecar 3
check "a second restart syncs" wait_for 20 metric_ge $S thanos_shipper_dir_syncs_total 2
check "... and uploads nothing" [ "$(metric $S thanos_shipper_uploads_total)" = 0 ]
kill "$SC"; wait "$SC" 2>/dev/null
check "no sanitizer reports in the sidecar logs" no_sanitizer_reports "$TMP"/sidecar2.log "$TMP"/sidecar3.log
