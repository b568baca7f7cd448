#!/usr/bin/env bash
# promlab compact, Thanos's compactor, over a FILESYSTEM bucket holding 15
# days of backfilled history (8 series at 1m in 180 2h blocks, uploaded with
# external labels): one run merges them per Thanos's levels (2h -> 8h -> 2d
# -> 14d), downsamples the 14d raw block to 5m and the 5m block to 1h, and
# marks every input for deletion; real promtool reads the merged raw block
# and dumps exactly the samples of the original blocks; count/sum/max of
# every 5m and 1h window read back from the aggregate chunks equal the raw
# data's, and the counter aggregate gives the raw increase; a second run
# (--wait, metrics checked) applies retention per resolution (raw and 1h
# deleted, 5m and the newer raw kept) and deletes marked blocks at
# --delete-delay=0s; two producers with the same external labels make it
# halt with a message naming the blocks (exit 1; with --wait
# thanos_compact_halted 1) and leave the bucket untouched.
source "$(dirname "$0")/../lib.sh"
# The data is only generated here: the release loadgen when built (faster), else the ASan one.
LG=${LOADGEN:-$ROOT/$BUILD/bin/promlab-loadgen}
[ -x "$LG" ] || LG=$ROOT/$BUILD/asan/bin/promlab-loadgen
PROMTOOL=${PROMTOOL:-promtool}

BUCKET=$TMP/bucket
cat >"$TMP/bucket.yml" <<YML
type: FILESYSTEM
config:
  directory: $BUCKET
YML
pt() { "$PROMLAB" tool bucket "$@" --objstore.config-file="$TMP/bucket.yml"; }

# Live blocks (meta.json, no deletion mark) as "ULID minTime maxTime resolution level nsources source".
live() {
  for d in "$BUCKET"/*/; do
    [ -f "$d/meta.json" ] && [ ! -f "$d/deletion-mark.json" ] || continue
    jq -r '"\(.ulid) \(.minTime) \(.maxTime) \(.thanos.downsample.resolution) \(.compaction.level) \(.compaction.sources|length) \(.thanos.source)"' "$d/meta.json"
  done
}

# --- 15 days ending one day after a 14d boundary B, so [B-14d, B) is one full Thanos level.
NOW=$(date +%s); P=1209600
B=$(( (NOW - 2 * 86400) / P * P )); END=$((B + 86400))
BMS=$((B * 1000)); SMS=$(((B - P) * 1000))
"$LG" backfill --output-blocks="$TMP/data" --days=15 --end=$END --resolution=1m --gauge-metric-count=2 \
  --counter-metric-count=2 --series-count=2 --label-count=1 --series-interval=0 --value-interval=0 >"$TMP/backfill.log" 2>&1
check "backfill wrote 180 2h blocks" [ "$(ls -d "$TMP"/data/*/ | wc -l)" = 180 ]
mkdir -p "$TMP/data/wal"
"$PROMTOOL" tsdb dump --min-time=$SMS --max-time=$((BMS - 1)) "$TMP/data" 2>/dev/null | sort >"$TMP/raw.dump"
check "promtool dumps 14 days of raw samples (8 series x 20160)" [ "$(wc -l <"$TMP/raw.dump")" = 161280 ]

pt upload-blocks --path="$TMP/data" --label=cluster=eu1 --label=replica=a >"$TMP/upload.log" 2>&1
check "tool bucket upload-blocks shipped 180 blocks with external labels" \
  grep -q "uploaded 180 blocks" "$TMP/upload.log"

# --- run once
HP=$(free_port)
"$PROMLAB" compact --objstore.config-file="$TMP/bucket.yml" --data-dir="$TMP/cdata" --consistency-delay=0s \
  --http-address=127.0.0.1:$HP >"$TMP/compact1.log" 2>&1
check "compact run once exits 0" [ $? = 0 ]
live | sort -k2,2n -k4,4n >"$TMP/live1"
RAW14=$(awk -v s=$SMS -v b=$BMS '$2==s && $3<=b && $3>b-600000 && $4==0 {print $1}' "$TMP/live1")
D5M=$(awk -v s=$SMS '$2==s && $4==300000 {print $1}' "$TMP/live1")
D1H=$(awk -v s=$SMS '$2==s && $4==3600000 {print $1}' "$TMP/live1")
{   [ -n "$RAW14" ] && grep -q "^$RAW14 .* 0 4 168 compactor$" "$TMP/live1"; }
check "one raw block spans the 14d level, merged from 168 sources" [ $? = 0 ]
{ [ -n "$D5M" ] && grep -q "^$D5M .* 300000 4 168 compactor$" "$TMP/live1"; }
check "a 5m block of the same range appears (source compactor)" [ $? = 0 ]
{ [ -n "$D1H" ] && grep -q "^$D1H .* 3600000 4 168 compactor$" "$TMP/live1"; }
check "a 1h block of the same range appears" [ $? = 0 ]
{   [ "$(awk -v b=$BMS '$2>=b && $4==0' "$TMP/live1" | wc -l)" = 6 ]; }
check "the last day stays raw in smaller merged blocks (2 of 8h, 4 of 2h)" [ $? = 0 ]
check "nothing else is live" [ "$(wc -l <"$TMP/live1")" = 9 ]
check "downsampled blocks keep the external labels" \
  [ "$(jq -c .thanos.labels "$BUCKET/$D1H/meta.json")" = '{"cluster":"eu1","replica":"a"}' ]
NMARK=$(ls "$BUCKET"/*/deletion-mark.json | wc -l)
{   [ "$NMARK" = $(( $(ls -d "$BUCKET"/*/ | wc -l) - 9 )) ] && [ "$NMARK" -ge 168 ]; }
check "every input and intermediate block got a deletion mark (and only those)" [ $? = 0 ]
M1=$(ls "$BUCKET"/*/deletion-mark.json | head -1)
jq -e --arg u "$(basename "$(dirname "$M1")")" '.id == $u and .version == 1 and (.deletion_time > 0) and (.details | length > 0)' "$M1" >/dev/null
check "deletion-mark.json is Thanos's (id, deletion_time, version 1, details)" [ $? = 0 ]
check "tool bucket ls -o wide shows the marks" [ "$(pt ls -o wide | grep -c 'marked for deletion')" = "$NMARK" ]
pt verify >"$TMP/verify1.log" 2>&1
check "tool bucket verify: files and sizes of the new blocks match their thanos.files, no overlap among live blocks" [ $? = 0 ]

# --- real promtool reads the merged raw block, and it holds exactly the original samples
mkdir -p "$TMP/prom/wal"; cp -r "$BUCKET/$RAW14" "$TMP/prom/"
"$PROMTOOL" tsdb analyze "$TMP/prom" "$RAW14" >"$TMP/analyze.log" 2>&1; arc=$?
{   [ $arc = 0 ] && grep -q "^Block ID: $RAW14" "$TMP/analyze.log" && grep -q "^Series: 8$" "$TMP/analyze.log"; }
check "promtool tsdb analyze reads the merged raw block (8 series, 14d)" [ $? = 0 ]
"$PROMTOOL" tsdb dump "$TMP/prom" 2>/dev/null | sort >"$TMP/merged.dump"
check "promtool tsdb dump of the merged block equals the 168 inputs' samples" cmp -s "$TMP/raw.dump" "$TMP/merged.dump"

# --- aggregates vs raw: per series and window, count / sum / max
windows_raw() { # RES < promtool dump
  awk -v res=$1 '{ i = index($0, "} "); l = substr($0, 1, i); split(substr($0, i + 2), a, " ");
    k = l "|" int(a[2] / res); c[k]++; s[k] += a[1]; if (!(k in m) || a[1] + 0 > m[k]) m[k] = a[1] + 0 }
    END { for (k in c) printf "%s %d %.10g %.17g\n", k, c[k], s[k], m[k] }' | sort
}
windows_aggr() { # RES ULID: count/sum/max dumps combined per window (a split window is summed back)
  for a in count sum max; do pt dump --id=$2 --aggr=$a | sed "s/^/$a /"; done |
    awk -v res=$1 '{ i = index($0, "} "); j = index($0, " "); agg = substr($0, 1, j - 1); l = substr($0, j + 1, i - j);
      split(substr($0, i + 2), a, " "); k = l "|" int(a[2] / res); v = a[1] + 0; seen[k] = 1;
      if (agg == "count") c[k] += v; else if (agg == "sum") s[k] += v; else if (!(k in m) || v > m[k]) m[k] = v }
      END { for (k in seen) printf "%s %d %.10g %.17g\n", k, c[k], s[k], m[k] }' | sort
}
windows_raw 300000 <"$TMP/raw.dump" >"$TMP/w5.raw"
windows_aggr 300000 "$D5M" >"$TMP/w5.aggr"
{   [ "$(wc -l <"$TMP/w5.raw")" = 32256 ] && [ "$(awk '$(NF - 2) != 5' "$TMP/w5.raw" | wc -l)" = 0 ]; }
check "5m windows: 32256 (8 series x 4032), 5 raw samples each" [ $? = 0 ]
check "5m aggregates: count, sum, max of every window equal the raw data's" cmp -s "$TMP/w5.raw" "$TMP/w5.aggr"
windows_raw 3600000 <"$TMP/raw.dump" >"$TMP/w1h.raw"
windows_aggr 3600000 "$D1H" >"$TMP/w1h.aggr"
{   [ "$(wc -l <"$TMP/w1h.raw")" = 2688 ] && cmp -s "$TMP/w1h.raw" "$TMP/w1h.aggr"; }
check "1h aggregates (made from 5m): count, sum, max of all 2688 windows equal the raw data's" [ $? = 0 ]
increase_raw() { grep '_total"' "$TMP/raw.dump" | sort -t' ' -k1,1 -s | awk '{ i = index($0, "} "); l = substr($0, 1, i);
  split(substr($0, i + 2), a, " "); print l, a[2], a[1] }' | sort -k1,1 -k2,2n |
  awk '{ l = $0; sub(/ [^ ]+ [^ ]+$/, "", l); v = $NF + 0; if (l == pl) inc[l] += (v >= pv ? v - pv : v); else inc[l] += 0; pl = l; pv = v }
    END { for (l in inc) printf "%s %.10g\n", l, inc[l] }' | sort; }
increase_aggr() { pt dump --id=$1 --aggr=counter | grep '_total"' | awk '{ l = $0; sub(/ [^ ]+ [^ ]+$/, "", l); v = $(NF - 1) + 0;
  if (!(l in f)) f[l] = v; e[l] = v } END { for (l in f) printf "%s %.10g\n", l, e[l] - f[l] }' | sort; }
increase_raw >"$TMP/inc.raw"
{ [ "$(wc -l <"$TMP/inc.raw")" = 4 ] && awk '$NF <= 0 {bad = 1} END {exit bad}' "$TMP/inc.raw"; }
check "counter series have a positive raw increase" [ $? = 0 ]
check "counter aggregate (5m): increase over 14d equals the raw increase" cmp -s "$TMP/inc.raw" <(increase_aggr "$D5M")
check "counter aggregate (1h): increase over 14d equals the raw increase" cmp -s "$TMP/inc.raw" <(increase_aggr "$D1H")

# --- second run with --wait: retention per resolution, deletion after delete-delay 0s, metrics
NOW=$(date +%s)
RAW_RET=$(( NOW - B - 4 * 3600 ))  # raw blocks ending before B+4h go: only the 14d raw block
H1_RET=$(( NOW - B - 3600 ))       # the 1h block (ends at B) goes
HP=$(free_port)
start_bg "$TMP/compact2.log" "$PROMLAB" compact --objstore.config-file="$TMP/bucket.yml" --data-dir="$TMP/cdata" \
  --consistency-delay=0s --delete-delay=0s --retention.resolution-raw=${RAW_RET}s --retention.resolution-1h=${H1_RET}s \
  --wait --wait-interval=1h --http-address=127.0.0.1:$HP
C2=$LAST_PID
check "compactor --wait serves /-/ready" wait_for 30 http_ok http://127.0.0.1:$HP/-/ready
check "the iteration completes (thanos_compact_iterations_total 1, a successful run recorded)" \
  wait_for 60 body_has http://127.0.0.1:$HP/metrics '^thanos_compact_last_successful_run_timestamp_seconds [1-9]'
curl -fsS http://127.0.0.1:$HP/metrics >"$TMP/metrics2"
{ "$PROMTOOL" check metrics <"$TMP/metrics2" >"$TMP/checkmetrics.log" 2>&1 &&
  grep -q '^thanos_compact_group_compactions_total{group="0@{cluster=\\"eu1\\",replica=\\"a\\"}"} 0$' "$TMP/metrics2"; }
check "promtool check metrics accepts /metrics; thanos_compact_group_* carry the group" [ $? = 0 ]
{   grep -q '^thanos_compact_blocks_marked_total{marker="deletion-mark.json",reason="retention"} 2$' "$TMP/metrics2" &&
  grep -q '^thanos_compact_halted 0$' "$TMP/metrics2" && grep -q '^thanos_compact_iterations_total 1$' "$TMP/metrics2"; }
check "metrics: 2 blocks marked by retention, thanos_compact_halted 0" [ $? = 0 ]
check "metrics: every marked block deleted (thanos_compact_blocks_cleaned_total)" \
  grep -q "^thanos_compact_blocks_cleaned_total $((NMARK + 2))\$" "$TMP/metrics2"
kill -TERM $C2; wait $C2 2>/dev/null; rc=$?
check "compactor --wait exits 0 on SIGTERM" [ $rc = 0 ]
live | sort -k2,2n -k4,4n >"$TMP/live2"
{   [ ! -e "$BUCKET/$RAW14" ] && [ ! -e "$BUCKET/$D1H" ]; }
check "retention: the 14d raw block and the 1h block are gone from the bucket" [ $? = 0 ]
{   [ -f "$BUCKET/$D5M/meta.json" ] && [ "$(awk '$4==0' "$TMP/live2" | wc -l)" = 6 ] && [ "$(wc -l <"$TMP/live2")" = 7 ]; }
check "retention: the 5m block and the 6 newer raw blocks are kept" [ $? = 0 ]
{   [ "$(ls -d "$BUCKET"/*/ | wc -l)" = 7 ] && ! ls "$BUCKET"/*/deletion-mark.json >/dev/null 2>&1; }
check "delete-delay 0s: no marked block left, nothing partial" [ $? = 0 ]

# --- two producers with the same external labels: halt, nothing touched
B2=$TMP/bucket2
cat >"$TMP/bucket2.yml" <<YML
type: FILESYSTEM
config:
  directory: $B2
YML
for r in 1 2; do
  "$LG" backfill --output-blocks="$TMP/dup$r" --days=0.5 --end=$END --resolution=5m --gauge-metric-count=1 \
    --series-count=1 --label-count=1 --series-interval=0 --seed=$r >"$TMP/bfdup$r.log" 2>&1
  "$PROMLAB" tool bucket upload-blocks --objstore.config-file="$TMP/bucket2.yml" --path="$TMP/dup$r" \
    --label=cluster=eu1 >>"$TMP/updup.log" 2>&1
done
NB2=$(ls "$B2" | wc -l)
"$PROMLAB" compact --objstore.config-file="$TMP/bucket2.yml" --data-dir="$TMP/cdata2" --consistency-delay=0s \
  --http-address=127.0.0.1:$(free_port) >"$TMP/halt.log" 2>&1
check "overlapping blocks of one group: run once exits 1" [ $? = 1 ]
check "the halt message names the group's labels and two overlapping blocks" \
  grep -qE 'compaction halted: overlapping blocks in group 0@\{cluster="eu1"\}: [0-9A-Z]{26} \[.* and [0-9A-Z]{26} \[.*same external labels' "$TMP/halt.log"
{   [ "$(ls "$B2" | wc -l)" = "$NB2" ] && ! ls "$B2"/*/deletion-mark.json >/dev/null 2>&1; }
check "halted: the bucket is untouched (no new block, no mark)" [ $? = 0 ]
"$PROMLAB" tool bucket verify --objstore.config-file="$TMP/bucket2.yml" >"$TMP/verify2.log" 2>&1
check "tool bucket verify reports the same overlap (exit 1)" [ $? = 1 ] && grep -q "issue=overlap" "$TMP/verify2.log"
HP=$(free_port)
start_bg "$TMP/halt2.log" "$PROMLAB" compact --objstore.config-file="$TMP/bucket2.yml" --data-dir="$TMP/cdata2" \
  --consistency-delay=0s --wait --wait-interval=1h --http-address=127.0.0.1:$HP
check "with --wait it keeps serving and reports thanos_compact_halted 1" \
  wait_for 30 body_has http://127.0.0.1:$HP/metrics '^thanos_compact_halted 1$'
kill -TERM $LAST_PID; wait $LAST_PID 2>/dev/null

check "no sanitizer report in any log" bash -c "! grep -lE 'Sanitizer|runtime error' $TMP/*.log"
[ "$_failed" = 0 ]
