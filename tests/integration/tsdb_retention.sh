#!/usr/bin/env bash
# Retention on 20 days of backfilled history (promlab tool tsdb
# create-blocks-from openmetrics, 18h blocks):
# - --storage.tsdb.retention.time=15d deletes exactly the blocks whose
#   maxTime is more than 15d before the newest block's maxTime, at start;
# - --storage.tsdb.retention.size below the data size deletes the oldest
#   blocks first until blocks + WAL fit;
# both counted in prometheus_tsdb_{time,size}_retentions_total (Prometheus
# counts retention runs that deleted something, not blocks), the limits
# exposed, the kept data still queryable.
source "$(dirname "$0")/../lib.sh"

START=1700000000
DAYS=20
# 10 series, a sample every 10 minutes for 20 days.
awk -v start=$START -v days=$DAYS 'BEGIN {
  print "# TYPE ret_value gauge";
  for (s = 0; s < 10; s++)
    for (t = 0; t < days * 86400; t += 600)
      printf "ret_value{s=\"%d\"} %d %d\n", s, t / 600 + s, start + t;
  print "# EOF";
}' >"$TMP/hist.om"
"$PROMLAB" tool tsdb create-blocks-from openmetrics --max-block-duration=24h "$TMP/hist.om" "$TMP/hist" >"$TMP/backfill.log" 2>&1
check "backfill of 20 days writes blocks" [ $? -eq 0 -a "$(ls "$TMP"/hist/*/meta.json | wc -l)" -ge 20 ]

# blocks DIR: "maxTime ulid size" of every block, newest first.
blocks() {
  for m in "$1"/*/meta.json; do
    b=$(dirname "$m")
    echo "$(jq .maxTime "$m") $(basename "$b") $(find "$b" -type f -printf '%s\n' | awk '{s+=$1} END {print s}')"
  done | sort -rn
}
blocks "$TMP/hist" >"$TMP/all.txt"
newest=$(head -1 "$TMP/all.txt" | cut -d' ' -f1)
DAY=86400000
awk -v n="$newest" -v r=$((15 * DAY)) 'n - $1 > r {print $2}' "$TMP/all.txt" | sort >"$TMP/want_gone_time.txt"
n_gone=$(wc -l <"$TMP/want_gone_time.txt")
check "some blocks lie beyond 15d ($n_gone) and some within" [ "$n_gone" -gt 0 -a "$n_gone" -lt "$(wc -l <"$TMP/all.txt")" ]

printf 'global:\n  scrape_interval: 1h\n' >"$TMP/empty.yml"
run_server() { # NAME DATA FLAGS...
  local name=$1 data=$2; shift 2
  PORT=$(free_port)
  URL=http://127.0.0.1:$PORT
  start_bg "$TMP/$name.log" "$PROMLAB" server --config.file="$TMP/empty.yml" --storage.tsdb.path="$data" \
    --web.listen-address=127.0.0.1:$PORT "$@"
  PID=$LAST_PID
  check "$name: promlab is ready" wait_for 20 http_ok $URL/-/ready
}
metric() { curl -fsS $URL/metrics | awk -v m="$1" '$1 == m {print $2}'; }
qat() { curl -fsS --get --data-urlencode "query=$1" --data-urlencode "time=$2" "$URL/api/v1/query" | jq -r "$3"; }
end_s=$(( newest / 1000 ))

# ---- time ----
cp -r "$TMP/hist" "$TMP/time"
run_server time "$TMP/time" --storage.tsdb.retention.time=15d
ls "$TMP/time" | grep -E '^[0-9A-Z]{26}$' | sort >"$TMP/left_time.txt"
comm -23 <(cut -d' ' -f2 "$TMP/all.txt" | sort) "$TMP/left_time.txt" >"$TMP/gone_time.txt"
check "retention.time=15d deletes exactly the $n_gone blocks beyond the limit" cmp -s "$TMP/gone_time.txt" "$TMP/want_gone_time.txt"
check "prometheus_tsdb_time_retentions_total counts the retention run" [ "$(metric prometheus_tsdb_time_retentions_total)" = 1 ]
check "prometheus_tsdb_size_retentions_total stays 0" [ "$(metric prometheus_tsdb_size_retentions_total)" = 0 ]
check "prometheus_tsdb_retention_limit_seconds is 15d" [ "$(metric prometheus_tsdb_retention_limit_seconds)" = 1296000 ]
check "blocks_loaded = the blocks kept" [ "$(metric prometheus_tsdb_blocks_loaded)" = "$(wc -l <"$TMP/left_time.txt")" ]
oldest_kept=$(for u in $(cat "$TMP/left_time.txt"); do jq .minTime "$TMP/time/$u/meta.json"; done | sort -n | head -1)
check "prometheus_tsdb_lowest_timestamp is the oldest kept block's minTime" \
  [ "$(metric prometheus_tsdb_lowest_timestamp)" = "$oldest_kept" ]
check "the kept history is still queryable (last sample of ret_value{s=3})" \
  [ "$(qat 'ret_value{s="3"}' "$end_s" '.data.result[0].value[1]')" = "$(( (DAYS * 86400 - 600) / 600 + 3 ))" ]
check "the deleted history is gone (a sample 19 days back)" \
  [ "$(qat 'ret_value{s="3"}' "$(( START + 3600 ))" '.data.result | length')" = 0 ]
kill -TERM "$PID"; wait "$PID"

# ---- size ----
# Limit: the 5 newest blocks plus half of the 6th; the WAL of a fresh start
# is far smaller than half a block. max-block-duration=1d keeps the 18h
# blocks as they are (without it, 31d: the planner would merge them).
limit=$(awk 'NR <= 5 {s += $3} NR == 6 {s += int($3 / 2)} END {print s}' "$TMP/all.txt")
cut -d' ' -f2 "$TMP/all.txt" | head -5 | sort >"$TMP/want_left_size.txt"
total=$(awk '{s += $3} END {print s}' "$TMP/all.txt")
cp -r "$TMP/hist" "$TMP/size"
run_server size "$TMP/size" --storage.tsdb.retention.size=${limit}B --storage.tsdb.max-block-duration=1d
ls "$TMP/size" | grep -E '^[0-9A-Z]{26}$' | sort >"$TMP/left_size.txt"
check "retention.size=${limit}B (data: $total B) keeps the 5 newest blocks, oldest deleted first" \
  cmp -s "$TMP/left_size.txt" "$TMP/want_left_size.txt"
check "prometheus_tsdb_size_retentions_total counts the retention run" [ "$(metric prometheus_tsdb_size_retentions_total)" = 1 ]
check "prometheus_tsdb_time_retentions_total stays 0 (no time limit when only the size is set)" \
  [ "$(metric prometheus_tsdb_time_retentions_total)" = 0 ]
check "prometheus_tsdb_retention_limit_bytes is the flag" [ "$(metric prometheus_tsdb_retention_limit_bytes)" = "$limit" ]
bytes=$(metric prometheus_tsdb_storage_blocks_bytes)
check "prometheus_tsdb_storage_blocks_bytes ($bytes) is under the limit" [ "$bytes" -le "$limit" ]
kill -TERM "$PID"; wait "$PID"
check "no sanitizer reports" sh -c "! grep -qE 'Sanitizer|runtime error' '$TMP/time.log' '$TMP/size.log'"
