#!/usr/bin/env bash
# promlab sidecar shipping to a real S3-compatible server: s3rver (npm, MIT),
# installed on first use into build/npm, behind tests/integration/s3_sigv4_proxy.js,
# which verifies each request's AWS Signature Version 4 (s3rver 3.7.1 checks
# only the access key id of a V4 request). Beside promlab's server and beside
# Prometheus 2.42: blocks land byte-identical with the thanos section, chunk
# files over the part size go up as multipart uploads, a wrong secret is
# refused by the verifier, an outage is counted and retried, a restart uploads
# nothing again, and the credentials appear in no log and no metric.
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
start_s3() {
  start_bg "$TMP/s3rver.log" node "$S3RVER" -d "$TMP/s3data" -a 127.0.0.1 -p $S3_PORT --configure-bucket thanos --no-vhost-buckets
  S3_PID=$LAST_PID
  start_bg "$TMP/proxy.log" node "$ROOT/tests/integration/s3_sigv4_proxy.js" $PX_PORT $S3_PORT $AK $SK
  PX_PID=$LAST_PID
}
mkdir -p "$TMP/s3data"
start_s3
check "s3rver is up" wait_for 20 sh -c "curl -s -o /dev/null http://127.0.0.1:$S3_PORT/"
check "the SigV4 verifier is up" wait_for 20 http_ok http://127.0.0.1:$PX_PORT/__proxy_stats

bucket_yml() { # FILE SECRET [PART_SIZE]
  cat >"$1" <<YML
type: S3
config:
  bucket: thanos
  endpoint: 127.0.0.1:$PX_PORT
  region: us-east-1
  access_key: $AK
  secret_key: $2
  insecure: true
  part_size: ${3:-67108864}
  max_retries: 2
YML
}
bucket_yml "$TMP/s3.yml" "$SK" 8192   # small parts: every chunk file (~20 KB) goes multipart

gen_om "$TMP/in.om" "$BF_START" 6
mkdir -p "$TMP/pl-data" "$TMP/prom-data"
"$PROMLAB" tool tsdb create-blocks-from openmetrics "$TMP/in.om" "$TMP/pl-data" >/dev/null 2>&1
"$PROMTOOL" tsdb create-blocks-from openmetrics "$TMP/in.om" "$TMP/prom-data" >/dev/null 2>&1
check "backfills made 4 + 4 blocks" [ "$(blocks_of "$TMP/pl-data" | wc -l) $(blocks_of "$TMP/prom-data" | wc -l)" = "4 4" ]

PL_PORT=$(free_port); PR_PORT=$(free_port)
write_prom_config "$TMP/pl.yml" cluster=s3lab replica=promlab
write_prom_config "$TMP/pr.yml" cluster=s3lab replica=prometheus
start_bg "$TMP/server.log" "$PROMLAB" server --config.file="$TMP/pl.yml" --storage.tsdb.path="$TMP/pl-data" \
  --web.listen-address=127.0.0.1:$PL_PORT --storage.tsdb.min-block-duration=2h --storage.tsdb.max-block-duration=2h
start_bg "$TMP/prometheus.log" "$PROMETHEUS" --config.file="$TMP/pr.yml" --storage.tsdb.path="$TMP/prom-data" \
  --web.listen-address=127.0.0.1:$PR_PORT --storage.tsdb.min-block-duration=2h --storage.tsdb.max-block-duration=2h
check "promlab server ready" wait_for 30 http_ok http://127.0.0.1:$PL_PORT/-/ready
check "Prometheus 2.42 ready" wait_for 30 http_ok http://127.0.0.1:$PR_PORT/-/ready

S1_PORT=$(free_port); S2_PORT=$(free_port)
S1=http://127.0.0.1:$S1_PORT; S2=http://127.0.0.1:$S2_PORT
start_sidecar() { # LOG PROM_PORT DATA HTTP_PORT CONFIG
  start_bg "$1" "$PROMLAB" sidecar --tsdb.path="$3" --prometheus.url=http://127.0.0.1:$2 \
    --objstore.config-file="$5" --http-address=127.0.0.1:$4 --shipper.sync-interval=1s --log.level=debug
}
start_sidecar "$TMP/sidecar1.log" $PL_PORT "$TMP/pl-data" $S1_PORT "$TMP/s3.yml"; SC1=$LAST_PID
start_sidecar "$TMP/sidecar2.log" $PR_PORT "$TMP/prom-data" $S2_PORT "$TMP/s3.yml"; SC2=$LAST_PID
check "beside promlab: 4 blocks uploaded to S3" wait_for 30 metric_ge $S1 thanos_shipper_uploads_total 4
check "beside Prometheus 2.42: 4 blocks uploaded to S3" wait_for 30 metric_ge $S2 thanos_shipper_uploads_total 4

# Read the bucket back over S3 (anonymous GETs straight to s3rver) and compare.
fetch_block() { # ULID DIR
  mkdir -p "$2/chunks"
  for f in meta.json index chunks/000001; do
    curl -fsS -o "$2/$f" "http://127.0.0.1:$S3_PORT/thanos/$1/$f" || return 1
  done
}
ok_blocks=0
for u in $(blocks_of "$TMP/pl-data"); do
  fetch_block "$u" "$TMP/got/$u" && check_shipped_block "$TMP/pl-data" "$u" "$TMP/got/$u" '{"cluster":"s3lab","replica":"promlab"}' && ok_blocks=$((ok_blocks + 1))
done
for u in $(blocks_of "$TMP/prom-data"); do
  fetch_block "$u" "$TMP/got/$u" && check_shipped_block "$TMP/prom-data" "$u" "$TMP/got/$u" '{"cluster":"s3lab","replica":"prometheus"}' && ok_blocks=$((ok_blocks + 1))
done
check "all 8 blocks read back from S3: byte-identical, meta.json with the thanos section ($ok_blocks)" [ $ok_blocks = 8 ]
list=$(curl -fsS "http://127.0.0.1:$S3_PORT/thanos?list-type=2&delimiter=/" | grep -o '<Prefix>01[^<]*</Prefix>' | wc -l)
check "ListObjectsV2 shows 8 block directories" [ "$list" = 8 ]
first=$(blocks_of "$TMP/pl-data" | head -1)
parts=$(grep -c "$first/chunks/000001?partNumber=" "$TMP/s3rver.log")
check "chunk files went up as multipart uploads ($parts parts of 8 KiB for $first)" [ "$parts" -ge 2 ]
check "... completed (POST ?uploadId answered 200)" grep -qE "$first/chunks/000001\?uploadId=[0-9a-f]+ 200" "$TMP/s3rver.log"
stats=$(curl -fsS http://127.0.0.1:$PX_PORT/__proxy_stats)
check "every request carried a valid SigV4 signature ($stats)" [ "$(echo "$stats" | jq '.verified > 20 and .rejected == 0')" = true ]
check "metrics: upload operations counted, no failures" \
  [ "$(metric $S1 'thanos_objstore_bucket_operations_total\{bucket="thanos",operation="upload"\}') $(metric $S1 thanos_shipper_upload_failures_total)" = "12 0" ]

# --- a wrong secret: the verifier refuses, the failure is counted, the secret stays out of the log
WRONG=wr0ngS3cretValue42
bucket_yml "$TMP/wrong.yml" "$WRONG"
mkdir -p "$TMP/w-data"; cp -r "$TMP/pl-data/$first" "$TMP/w-data/"
W_PORT=$(free_port)
start_sidecar "$TMP/sidecar-wrong.log" $PL_PORT "$TMP/w-data" $W_PORT "$TMP/wrong.yml"; SCW=$LAST_PID
check "wrong secret: uploads fail and are counted" wait_for 20 metric_ge http://127.0.0.1:$W_PORT thanos_shipper_upload_failures_total 1
check "wrong secret: the error says the server refused the request (403)" grep -qE "HTTP 403" "$TMP/sidecar-wrong.log"
check "wrong secret: the verifier rejected requests" [ "$(curl -fsS http://127.0.0.1:$PX_PORT/__proxy_stats | jq .rejected)" -gt 0 ]
curl -fsS http://127.0.0.1:$W_PORT/metrics >"$TMP/wrong.metrics"
kill "$SCW"; wait "$SCW" 2>/dev/null
check "wrong secret: the secret appears in no log and no metric" \
  sh -c "! grep -qF '$WRONG' '$TMP/sidecar-wrong.log' '$TMP/wrong.metrics'"

# --- outage: s3rver and the proxy down; a new block fails, is counted, and goes up once they are back
kill "$S3_PID" "$PX_PID"; wait "$S3_PID" "$PX_PID" 2>/dev/null
gen_om "$TMP/later.om" $((BF_START + 6 * 3600)) 1
before=$(blocks_of "$TMP/pl-data")
"$PROMLAB" tool tsdb create-blocks-from openmetrics "$TMP/later.om" "$TMP/pl-data" >/dev/null 2>&1
new=$(comm -13 <(echo "$before" | sort) <(blocks_of "$TMP/pl-data" | sort) | head -1)
check "outage: upload failures counted" wait_for 30 metric_ge $S1 thanos_shipper_upload_failures_total 1
check "outage: the dir sync fails too" metric_ge $S1 thanos_shipper_dir_sync_failures_total 1
check "outage: the new block is not recorded as uploaded" sh -c "! grep -q '$new' '$TMP/pl-data/thanos.shipper.json'"
start_s3
check "outage over: the new block is uploaded at a later sync" wait_for 40 metric_ge $S1 thanos_shipper_uploads_total 5
check "outage over: the new block is complete in the bucket" \
  wait_for 10 sh -c "curl -fsS http://127.0.0.1:$S3_PORT/thanos/$new/meta.json | jq -e '.thanos.labels.cluster == \"s3lab\"' >/dev/null"

# --- restart: no object uploaded again
find "$TMP/s3data/thanos" -type f -name '*_S3rver_object' -printf '%p %T@\n' | sort >"$TMP/s3.before"
kill "$SC1"; wait "$SC1" 2>/dev/null
uploads_before=$(curl -fsS http://127.0.0.1:$PX_PORT/__proxy_stats | jq .verified)
start_sidecar "$TMP/sidecar1b.log" $PL_PORT "$TMP/pl-data" $S1_PORT "$TMP/s3.yml"; SC1=$LAST_PID
check "restarted sidecar syncs" wait_for 20 metric_ge $S1 thanos_shipper_dir_syncs_total 2
check "after restart: thanos_shipper_uploads_total 0" [ "$(metric $S1 thanos_shipper_uploads_total)" = 0 ]
check "after restart: no upload operation" \
  [ "$(metric $S1 'thanos_objstore_bucket_operations_total\{bucket="thanos",operation="upload"\}')" = 0 ]
find "$TMP/s3data/thanos" -type f -name '*_S3rver_object' -printf '%p %T@\n' | sort >"$TMP/s3.after"
check "after restart: bucket objects untouched ($(wc -l <"$TMP/s3.before") objects)" \
  sh -c "[ \$(wc -l <'$TMP/s3.before') = 27 ] && cmp -s '$TMP/s3.before' '$TMP/s3.after'"

# --- credentials: in no log line and no metric
curl -fsS $S1/metrics >"$TMP/s1.metrics"; curl -fsS $S2/metrics >"$TMP/s2.metrics"
check "metrics have the bucket label but no credential" \
  sh -c "grep -q 'bucket=\"thanos\"' '$TMP/s1.metrics' && ! grep -qF '$AK' '$TMP/s1.metrics' '$TMP/s2.metrics'"
kill "$SC1" "$SC2" 2>/dev/null; wait "$SC1" "$SC2" 2>/dev/null
check "the access key and secret appear in no sidecar log (debug level)" \
  sh -c "! grep -qF '$AK' '$TMP'/sidecar*.log"
check "no sanitizer reports in the sidecar logs" no_sanitizer_reports "$TMP"/sidecar*.log
