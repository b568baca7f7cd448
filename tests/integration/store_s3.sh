#!/usr/bin/env bash
# promlab store over an S3 bucket (s3rver behind the SigV4-verifying proxy,
# as sidecar_s3.sh): blocks uploaded with `promlab tool bucket upload-blocks`
# are served through `promlab query` exactly as the same blocks from a
# FILESYSTEM bucket; the chunks come by ranged GETs (counted), a store with
# a wrong secret is refused by the verifier, never gets ready, and logs no
# secret.
source "$(dirname "$0")/../lib.sh"
source "$ROOT/tests/sidecar_lib.sh"

NPM_DIR=$ROOT/$BUILD/npm
S3RVER=$NPM_DIR/node_modules/.bin/s3rver
if [ ! -x "$S3RVER" ]; then
  mkdir -p "$NPM_DIR"
  npm install --prefix "$NPM_DIR" --no-audit --no-fund --loglevel=error s3rver@3.7.1 >"$TMP/npm.log" 2>&1
fi
check "s3rver 3.7.1 is installed (npm)" test -x "$S3RVER"
[ -x "$S3RVER" ] || exit 1

AK=S3RVER; SK=S3RVER   # s3rver's built-in account
S3_PORT=$(free_port); PX_PORT=$(free_port)
mkdir -p "$TMP/s3data"
start_bg "$TMP/s3rver.log" node "$S3RVER" -d "$TMP/s3data" -a 127.0.0.1 -p $S3_PORT --configure-bucket thanos --no-vhost-buckets
start_bg "$TMP/proxy.log" node "$ROOT/tests/integration/s3_sigv4_proxy.js" $PX_PORT $S3_PORT $AK $SK
check "s3rver and the SigV4 verifier are up" wait_for 20 http_ok http://127.0.0.1:$PX_PORT/__proxy_stats
s3_yml() { # FILE SECRET
  printf 'type: S3\nconfig:\n  bucket: thanos\n  endpoint: 127.0.0.1:%s\n  region: us-east-1\n  access_key: %s\n  secret_key: %s\n  insecure: true\n  max_retries: 1\n' \
    "$PX_PORT" "$AK" "$2" >"$1"
}
s3_yml "$TMP/s3.yml" "$SK"
s3_yml "$TMP/s3-bad.yml" "not-the-secret-$RANDOM"
printf 'type: FILESYSTEM\nconfig:\n  directory: %s\n' "$TMP/fs" >"$TMP/fs.yml"

gen_om "$TMP/in.om" "$BF_START" 6
"$PROMLAB" tool tsdb create-blocks-from openmetrics "$TMP/in.om" "$TMP/data" >"$TMP/bf.log" 2>&1
cp -r "$TMP/data" "$TMP/data2"
"$PROMLAB" tool bucket upload-blocks --objstore.config-file="$TMP/s3.yml" --path="$TMP/data" --label=cluster=s3 \
  >"$TMP/upload-s3.log" 2>&1
"$PROMLAB" tool bucket upload-blocks --objstore.config-file="$TMP/fs.yml" --path="$TMP/data2" --label=cluster=s3 \
  >"$TMP/upload-fs.log" 2>&1
check "4 blocks uploaded to S3 and to the file system" \
  [ "$(ls -d "$TMP"/fs/01* | wc -l)" = 4 -a "$(grep -c . "$TMP/upload-s3.log")" -ge 1 ]

ST_PORT=$(free_port); FS_PORT=$(free_port); BAD_PORT=$(free_port); Q1_PORT=$(free_port); Q2_PORT=$(free_port)
ST=http://127.0.0.1:$ST_PORT; FS=http://127.0.0.1:$FS_PORT; BAD=http://127.0.0.1:$BAD_PORT
Q1=http://127.0.0.1:$Q1_PORT; Q2=http://127.0.0.1:$Q2_PORT
start_bg "$TMP/store-s3.log" "$PROMLAB" store --objstore.config-file="$TMP/s3.yml" --data-dir="$TMP/sd1" \
  --http-address=127.0.0.1:$ST_PORT --sync-block-duration=1m
start_bg "$TMP/store-fs.log" "$PROMLAB" store --objstore.config-file="$TMP/fs.yml" --data-dir="$TMP/sd2" \
  --http-address=127.0.0.1:$FS_PORT --sync-block-duration=1m
start_bg "$TMP/store-bad.log" "$PROMLAB" store --objstore.config-file="$TMP/s3-bad.yml" --data-dir="$TMP/sd3" \
  --http-address=127.0.0.1:$BAD_PORT --sync-block-duration=1m
check "store over S3 ready" wait_for 30 http_ok $ST/-/ready
check "store over the file system ready" wait_for 30 http_ok $FS/-/ready
check "store over S3 loaded the 4 blocks" [ "$(curl -fsS $ST/api/v1/store/info | jq '.data.blocks | length')" = 4 ]
start_bg "$TMP/query1.log" "$PROMLAB" query --endpoint=$ST --http-address=127.0.0.1:$Q1_PORT
start_bg "$TMP/query2.log" "$PROMLAB" query --endpoint=$FS --http-address=127.0.0.1:$Q2_PORT
wait_for 30 http_ok $Q1/-/ready
check "queries ready" wait_for 30 http_ok $Q2/-/ready
range() {
  curl -fsS --get --data-urlencode "query=$2" --data-urlencode "start=$((BF_START + 600))" \
    --data-urlencode "end=$((BF_START + 6 * 3600))" --data-urlencode step=120 "$1/api/v1/query_range" |
    jq -cS '.data.result | sort_by(.metric | tostring)'
}
r1=$(range $Q1 'lab_metric'); r2=$(range $Q2 'lab_metric')
check "6 h of 20 series from S3 equal those from the file system" \
  [ "$r1" = "$r2" -a "$(echo "$r1" | jq length)" = 20 -a "$(echo "$r1" | jq '.[0].values | length')" -gt 150 ]
check "a rate over S3 equals the file system's" \
  [ "$(range $Q1 'sum(rate(lab_metric[10m]))')" = "$(range $Q2 'sum(rate(lab_metric[10m]))')" ]
check "chunks came by ranged GETs" \
  body_has $ST/metrics '^thanos_objstore_bucket_operations_total\{bucket="thanos",operation="get_range"\} [1-9]'
check "store with a wrong secret: not ready" sh -c "! curl -fsS -o /dev/null $BAD/-/ready"
check "... its sync failures are counted" wait_for 20 body_has $BAD/metrics '^thanos_blocks_meta_sync_failures_total [1-9]'
check "no log holds the secret keys" sh -c "! grep -lq -e '$SK' -e 'not-the-secret' '$TMP'/store-*.log '$TMP'/query*.log"

for p in "${_pids[@]}"; do kill "$p" 2>/dev/null; done
sleep 1
check "no sanitizer reports" no_sanitizer_reports "$TMP"/store-*.log "$TMP"/query*.log
[ "$_failed" -eq 0 ]
