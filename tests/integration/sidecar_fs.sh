#!/usr/bin/env bash
# promlab sidecar shipping to a FILESYSTEM bucket, beside promlab's server and
# beside Debian's Prometheus 2.42 (both with backfilled blocks and
# min-block-duration = max-block-duration = 2h): every block lands in the
# bucket as <ULID>/{chunks/000001,index,meta.json} with the thanos section,
# byte-identical to the local files, and real promtool reads the bucket;
# a restart uploads nothing again, a block cut later is shipped; a server
# without external labels, or compacting locally, is refused with a message.
source "$(dirname "$0")/../lib.sh"
source "$ROOT/tests/sidecar_lib.sh"

BUCKET=$TMP/bucket
cat >"$TMP/bucket.yml" <<YML
type: FILESYSTEM
config:
  directory: $BUCKET
YML

# --- data: promlab backfill for promlab's server, promtool backfill for Prometheus
gen_om "$TMP/in.om" "$BF_START" 6
mkdir -p "$TMP/pl-data" "$TMP/prom-data"
"$PROMLAB" tool tsdb create-blocks-from openmetrics "$TMP/in.om" "$TMP/pl-data" >"$TMP/bf1.log" 2>&1
check "promlab backfill made 4 blocks" [ "$(blocks_of "$TMP/pl-data" | wc -l)" = 4 ]
"$PROMTOOL" tsdb create-blocks-from openmetrics "$TMP/in.om" "$TMP/prom-data" >"$TMP/bf2.log" 2>&1
check "promtool backfill made 4 blocks" [ "$(blocks_of "$TMP/prom-data" | wc -l)" = 4 ]

PL_PORT=$(free_port); PR_PORT=$(free_port)
write_prom_config "$TMP/pl.yml" cluster=lab replica=promlab
write_prom_config "$TMP/pr.yml" cluster=lab replica=prometheus
start_bg "$TMP/server.log" "$PROMLAB" server --config.file="$TMP/pl.yml" --storage.tsdb.path="$TMP/pl-data" \
  --web.listen-address=127.0.0.1:$PL_PORT --storage.tsdb.min-block-duration=2h --storage.tsdb.max-block-duration=2h
start_bg "$TMP/prometheus.log" "$PROMETHEUS" --config.file="$TMP/pr.yml" --storage.tsdb.path="$TMP/prom-data" \
  --web.listen-address=127.0.0.1:$PR_PORT --storage.tsdb.min-block-duration=2h --storage.tsdb.max-block-duration=2h
check "promlab server ready" wait_for 20 http_ok http://127.0.0.1:$PL_PORT/-/ready
check "Prometheus 2.42 ready" wait_for 30 http_ok http://127.0.0.1:$PR_PORT/-/ready

S1_PORT=$(free_port); S2_PORT=$(free_port)
S1=http://127.0.0.1:$S1_PORT; S2=http://127.0.0.1:$S2_PORT
start_sidecar() { # LOG PROM_PORT DATA HTTP_PORT
  start_bg "$1" "$PROMLAB" sidecar --tsdb.path="$3" --prometheus.url=http://127.0.0.1:$2 \
    --objstore.config-file="$TMP/bucket.yml" --http-address=127.0.0.1:$4 --grpc-address=127.0.0.1:0 \
    --shipper.sync-interval=1s --prometheus.get_config_interval=1s
}
start_sidecar "$TMP/sidecar1.log" $PL_PORT "$TMP/pl-data" $S1_PORT; SC1=$LAST_PID
start_sidecar "$TMP/sidecar2.log" $PR_PORT "$TMP/prom-data" $S2_PORT; SC2=$LAST_PID
check "sidecar beside promlab: ready" wait_for 20 http_ok $S1/-/ready
check "sidecar beside Prometheus 2.42: ready" wait_for 20 http_ok $S2/-/ready
check "/-/healthy answers" http_ok $S1/-/healthy
check "sidecar beside promlab: 4 uploads" wait_for 20 metric_ge $S1 thanos_shipper_uploads_total 4
check "sidecar beside Prometheus: 4 uploads" wait_for 20 metric_ge $S2 thanos_shipper_uploads_total 4
check "--grpc-address is logged as not served" grep -q "gRPC StoreAPI is not served" "$TMP/sidecar1.log"

ok_blocks=0
for u in $(blocks_of "$TMP/pl-data"); do
  check_shipped_block "$TMP/pl-data" "$u" "$BUCKET/$u" '{"cluster":"lab","replica":"promlab"}' && ok_blocks=$((ok_blocks + 1))
done
for u in $(blocks_of "$TMP/prom-data"); do
  check_shipped_block "$TMP/prom-data" "$u" "$BUCKET/$u" '{"cluster":"lab","replica":"prometheus"}' && ok_blocks=$((ok_blocks + 1))
done
check "all 8 blocks in the bucket: chunks and index byte-identical, meta.json = local + thanos section ($ok_blocks)" [ $ok_blocks = 8 ]
# upload order, from the objects' modification times (the file system's clock ticks every few ms: ties allowed between neighbours): chunks, then index, then meta.json
order_ok() {
  [ "$(ls -d "$BUCKET"/01* | wc -l)" = 8 ] || return 1
  local d
  for d in "$BUCKET"/01*; do
    awk -v c="$(stat -c %.9Y "$d/chunks/000001")" -v i="$(stat -c %.9Y "$d/index")" -v m="$(stat -c %.9Y "$d/meta.json")" \
      'BEGIN { exit !(c <= i && i <= m) }' || return 1
  done
}
check "each block's objects were written chunks, then index, then meta.json last" order_ok
no_junk() { [ -d "$BUCKET" ] && [ -z "$(find "$BUCKET" -name tombstones -o -name '.promlab-upload-*')" ]; }
check "no tombstones and no staging files in the bucket" no_junk
want=$(blocks_of "$TMP/pl-data" | while read -r u; do echo "$(jq .minTime "$TMP/pl-data/$u/meta.json") $u"; done | sort -n | awk '{print $2}' | jq -R . | jq -sc .)
check "thanos.shipper.json lists the blocks by minTime" \
  [ "$(jq -c '[.version, .uploaded]' "$TMP/pl-data/thanos.shipper.json")" = "[1,$want]" ]
check "promtool tsdb list reads the bucket directory (8 blocks)" \
  [ "$("$PROMTOOL" tsdb list "$BUCKET" 2>/dev/null | grep -c '^01')" = 8 ]
first=$(blocks_of "$TMP/pl-data" | head -1)
check "promtool tsdb analyze reads a shipped block" sh -c "'$PROMTOOL' tsdb analyze '$BUCKET' $first 2>&1 | grep -q '^Series: 20$'"
check "metrics: objstore upload operations counted (12)" \
  [ "$(metric $S1 'thanos_objstore_bucket_operations_total\{bucket="fs: '"$BUCKET"'",operation="upload"\}')" = 12 ]
check "metrics: thanos_sidecar_prometheus_up 1, no failures" \
  [ "$(metric $S1 thanos_sidecar_prometheus_up) $(metric $S1 thanos_shipper_upload_failures_total)" = "1 0" ]
check "metrics: process_* exposed" body_has $S1/metrics '^process_resident_memory_bytes '

# --- restart: nothing uploaded twice; a block cut later is shipped
stat -c '%n %y' "$BUCKET"/01*/* "$BUCKET"/01*/chunks/* | sort >"$TMP/mtimes.before"
kill "$SC1"; wait "$SC1" 2>/dev/null
check "sidecar exits on SIGTERM" sh -c "! kill -0 $SC1 2>/dev/null"
start_sidecar "$TMP/sidecar1b.log" $PL_PORT "$TMP/pl-data" $S1_PORT; SC1=$LAST_PID
check "restarted sidecar syncs" wait_for 20 metric_ge $S1 thanos_shipper_dir_syncs_total 2
check "after restart: thanos_shipper_uploads_total 0" [ "$(metric $S1 thanos_shipper_uploads_total)" = 0 ]
stat -c '%n %y' "$BUCKET"/01*/* "$BUCKET"/01*/chunks/* | sort >"$TMP/mtimes.after"
check "after restart: bucket objects untouched (mtimes of 24 objects, 8 directories)" \
  sh -c "[ \$(wc -l <'$TMP/mtimes.before') = 32 ] && cmp -s '$TMP/mtimes.before' '$TMP/mtimes.after'"
gen_om "$TMP/later.om" $((BF_START + 6 * 3600)) 1
"$PROMLAB" tool tsdb create-blocks-from openmetrics "$TMP/later.om" "$TMP/pl-data" >/dev/null 2>&1
new=$(comm -13 <(cut -d' ' -f1 "$TMP/mtimes.before" | xargs -n1 dirname | xargs -n1 basename | sort -u) <(blocks_of "$TMP/pl-data" | sort) | head -1)
check "a block cut after the restart is shipped" wait_for 20 metric_ge $S1 thanos_shipper_uploads_total 1
check "... completely (meta.json present)" wait_for 5 test -f "$BUCKET/$new/meta.json"

# --- refusals: no external labels; local compaction on
NL_PORT=$(free_port); CP_PORT=$(free_port)
write_prom_config "$TMP/nolabels.yml"
start_bg "$TMP/server-nl.log" "$PROMLAB" server --config.file="$TMP/nolabels.yml" --storage.tsdb.path="$TMP/nl-data" \
  --web.listen-address=127.0.0.1:$NL_PORT --storage.tsdb.min-block-duration=2h --storage.tsdb.max-block-duration=2h
start_bg "$TMP/server-cp.log" "$PROMLAB" server --config.file="$TMP/pl.yml" --storage.tsdb.path="$TMP/cp-data" \
  --web.listen-address=127.0.0.1:$CP_PORT --storage.tsdb.min-block-duration=2h --storage.tsdb.max-block-duration=6h
wait_for 20 http_ok http://127.0.0.1:$NL_PORT/-/ready; wait_for 20 http_ok http://127.0.0.1:$CP_PORT/-/ready
mkdir -p "$TMP/nl-data"; cp -r "$TMP/pl-data/$first" "$TMP/nl-data/"
timeout 30 "$PROMLAB" sidecar --tsdb.path="$TMP/nl-data" --prometheus.url=http://127.0.0.1:$NL_PORT \
  --objstore.config-file="$TMP/bucket.yml" --http-address=127.0.0.1:0 \
  --prometheus.get_config_interval=500ms --prometheus.get_config_timeout=2s >"$TMP/nl.log" 2>&1
rc=$?
check "no external labels: the sidecar exits 1" [ $rc = 1 ]
check "no external labels: the message says so and how to fix it" \
  sh -c "grep -q 'no external labels configured on Prometheus server' '$TMP/nl.log' && grep -q 'external_labels:' '$TMP/nl.log'"
check "no external labels: nothing written to thanos.shipper.json" [ ! -e "$TMP/nl-data/thanos.shipper.json" ]
timeout 30 "$PROMLAB" sidecar --tsdb.path="$TMP/pl-data" --prometheus.url=http://127.0.0.1:$CP_PORT \
  --objstore.config-file="$TMP/bucket.yml" --http-address=127.0.0.1:0 >"$TMP/cp.log" 2>&1
rc=$?
check "min-block-duration != max-block-duration: refused (exit 1)" [ $rc = 1 ]
cp_msg() { grep -q "Compaction needs to be disabled" "$TMP/cp.log" || { sed "s/^/# /" "$TMP/cp.log"; return 1; }; }
check "... with Thanos's message" cp_msg
timeout 10 "$PROMLAB" sidecar --objstore.config='type: FILESYSTEM
config:
  directry: /x' --http-address=127.0.0.1:0 >"$TMP/badcfg.log" 2>&1
rc=$?
check "a bad inline --objstore.config is refused with line:col" \
  sh -c "[ $rc = 1 ] && grep -q '<objstore.config>:3:3: field directry not found' '$TMP/badcfg.log'"

kill "$SC1" "$SC2" 2>/dev/null; wait "$SC1" "$SC2" 2>/dev/null
check "no sanitizer reports in the sidecar logs" no_sanitizer_reports "$TMP"/sidecar*.log "$TMP/nl.log" "$TMP/cp.log"

# --- promlab tool bucket ls|inspect|verify on the bucket the sidecars filled
BK="--objstore.config-file=$TMP/bucket.yml"
check "tool bucket ls lists the 9 shipped blocks" [ "$("$PROMLAB" tool bucket ls "$BK" | grep -c '^01')" = 9 ]
check "tool bucket ls -o wide shows range, labels, resolution" \
  [ "$("$PROMLAB" tool bucket ls "$BK" -o wide | grep -c 'labels {cluster="lab",replica="prometheus"}, resolution 0, level 1')" = 4 ]
check "tool bucket inspect: one row per block with its stats" \
  [ "$("$PROMLAB" tool bucket inspect "$BK" | grep -cE '^01[A-Z0-9]{24} .* 20 +[0-9]+ +[0-9]+ +1 +0  sidecar ')" = 9 ]
"$PROMLAB" tool bucket verify "$BK" >"$TMP/verify.out" 2>&1
check "tool bucket verify: a clean bucket has no issues (exit 0)" \
  sh -c "[ $? = 0 ] && grep -q '^9 blocks checked, 0 issues' '$TMP/verify.out'"
cp -r "$BUCKET" "$TMP/broken"
b1=$(ls "$TMP/broken" | sed -n 1p); b2=$(ls "$TMP/broken" | sed -n 2p)
rm "$TMP/broken/$b1/meta.json"                       # a partial upload
rm "$TMP/broken/$b2/index"                           # a missing file
dup=${b2%??}ZZ; cp -r "$TMP/broken/$(ls "$TMP/broken" | sed -n 3p)" "$TMP/broken/$dup"
jq --arg u "$dup" '.ulid = $u' "$TMP/broken/$dup/meta.json" >"$TMP/m.json" && mv "$TMP/m.json" "$TMP/broken/$dup/meta.json"
"$PROMLAB" tool bucket verify "--objstore.config=type: FILESYSTEM
config: {directory: $TMP/broken}" >"$TMP/verify2.out" 2>&1
rc=$?
check "tool bucket verify finds the partial upload, the missing index and the overlap (exit 1)" \
  sh -c "[ $rc = 1 ] && grep -q 'issue=partial_upload block=$b1' '$TMP/verify2.out' && grep -q 'issue=missing_file block=$b2 file=index' '$TMP/verify2.out' && grep -q 'issue=overlap blocks=.*$dup' '$TMP/verify2.out' && grep -q ', 3 issues' '$TMP/verify2.out'"
check "tool bucket ls does not list the partial upload as a block" \
  sh -c "! '$PROMLAB' tool bucket ls '--objstore.config=type: FILESYSTEM
config: {directory: $TMP/broken}' | grep -q '$b1'"
