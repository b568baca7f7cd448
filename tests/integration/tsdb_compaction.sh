#!/usr/bin/env bash
# Head compaction end to end, with 1m blocks (--storage.tsdb.min-block-duration
# = max = 1m): promlab scrapes node_exporter (a textfile with known values and
# 2000 short-lived series); blocks appear on disk; the head drops the dead
# series after truncation (series count and symbol memory go down);
# `promtool tsdb analyze` and `dump` read the blocks + WAL with exactly the
# ingested samples; a query over the block/head boundary counts every sample
# once, live and after a restart; a real Prometheus 2.42 started on the data
# dir (snappy WAL) answers the same values.
source "$(dirname "$0")/../lib.sh"

NE=$(command -v prometheus-node-exporter || echo /usr/bin/prometheus-node-exporter)
PROM=$(command -v prometheus || echo /usr/bin/prometheus)
PROMTOOL=$(command -v promtool || echo /usr/bin/promtool)
NE_PORT=$(free_port)
PORT=$(free_port)
URL=http://127.0.0.1:$PORT
DATA=$TMP/data

mkdir -p "$TMP/textfile"
fixed() {
  cat <<'EOF'
# TYPE cmp_value gauge
cmp_value{k="a"} 42
cmp_value{k="b"} -1.5e-300
cmp_value{k="d"} 123456789.125
EOF
}
{
  fixed
  echo '# TYPE churn_value gauge'
  for i in $(seq 1 2000); do echo "churn_value{pod=\"churn-pod-with-a-long-name-$i-abcdefghijklmnopqrstuvwxyz\"} $i"; done
} >"$TMP/textfile/t.prom.tmp" && mv "$TMP/textfile/t.prom.tmp" "$TMP/textfile/t.prom"
start_bg "$TMP/ne.log" "$NE" --web.listen-address=127.0.0.1:$NE_PORT --collector.disable-defaults \
  --collector.textfile --collector.textfile.directory="$TMP/textfile"
check "node_exporter serves the textfile" wait_for 15 body_has http://127.0.0.1:$NE_PORT/metrics '^churn_value'

cat >"$TMP/p.yml" <<YML
global:
  scrape_interval: 500ms
  scrape_timeout: 400ms
scrape_configs:
  - job_name: node
    static_configs:
      - targets: ['127.0.0.1:$NE_PORT']
YML
FLAGS=(--config.file="$TMP/p.yml" --storage.tsdb.path="$DATA" --web.listen-address=127.0.0.1:$PORT
  --storage.tsdb.min-block-duration=1m --storage.tsdb.max-block-duration=1m
  --storage.tsdb.wal-compression-type=snappy)
start_bg "$TMP/promlab.log" "$PROMLAB" server "${FLAGS[@]}"
PID=$LAST_PID
check "promlab is ready" wait_for 20 http_ok $URL/-/ready

metric() { curl -fsS $URL/metrics | awk -v m="$1" '$1 == m {print $2}'; }
has_churn() { [ "$(metric prometheus_tsdb_head_series)" -ge 2000 ] 2>/dev/null; }
check "the 2000 churn series are in the head" wait_for 15 has_churn
sleep 2
series_before=$(metric prometheus_tsdb_head_series)
syms_before=$(metric 'promlab_tsdb_head_memory_bytes{part="symbols"}')
post_before=$(metric 'promlab_tsdb_head_memory_bytes{part="postings"}')
# The churn series go away (stale markers), the fixed ones stay.
fixed >"$TMP/textfile/t.prom.tmp" && mv "$TMP/textfile/t.prom.tmp" "$TMP/textfile/t.prom"

block_on_disk() { ls "$DATA"/*/meta.json >/dev/null 2>&1; }
check "a block appears on disk within 150s (1m blocks, cut at 1.5 ranges)" wait_for 150 block_on_disk
removed() { [ "$(metric prometheus_tsdb_head_series_removed_total)" -ge 2000 ] 2>/dev/null; }
check "head truncation removes the 2000 dead series" wait_for 80 removed
series_after=$(metric prometheus_tsdb_head_series)
syms_after=$(metric 'promlab_tsdb_head_memory_bytes{part="symbols"}')
post_after=$(metric 'promlab_tsdb_head_memory_bytes{part="postings"}')
check "head series go down ($series_before -> $series_after)" [ "$series_after" -lt $((series_before - 1900)) ]
check "head symbol memory goes down ($syms_before -> $syms_after)" [ "$syms_after" -lt "$syms_before" ]
check "head postings memory goes down ($post_before -> $post_after)" [ "$post_after" -lt "$post_before" ]
check "compactions and truncations are counted" \
  sh -c "[ \"\$(curl -fsS $URL/metrics | awk '\$1==\"prometheus_tsdb_compactions_total\"{print \$2}')\" -ge 1 ] && curl -fsS $URL/metrics | grep -q '^prometheus_tsdb_head_truncations_total [1-9]'"
check "blocks_loaded matches the block dirs" \
  [ "$(metric prometheus_tsdb_blocks_loaded)" = "$(ls -d "$DATA"/*/meta.json | wc -l)" ]
for m in $(ls "$DATA"/*/meta.json); do
  mint=$(jq .minTime "$m"); maxt=$(jq .maxTime "$m")
  check "block $(basename "$(dirname "$m")"): level 1, maxTime on the 1m grid, within one range" \
    [ "$(jq .compaction.level "$m")" = 1 -a $((maxt % 60000)) -eq 0 -a $((maxt - mint)) -le 60000 ]
done

# A live query whose window spans the blocks and the head: one sample per
# scrape, each once (compared with promtool's dump after shutdown).
at_ms=$(( $(date +%s) * 1000 - 2000 ))
at=$(awk -v t="$at_ms" 'BEGIN{printf "%.3f", t/1000}')
qat() { curl -fsS --get --data-urlencode "query=$2" --data-urlencode "time=$3" "$1/api/v1/query" | jq -r "$4"; }
live_count=$(qat $URL 'count_over_time(cmp_value{k="a"}[10m])' "$at" '.data.result[0].value[1]')
kill -TERM "$PID"; wait "$PID"; rc=$?
check "promlab exits 0" [ "$rc" -eq 0 ]
check "no sanitizer reports" sh -c "! grep -qE 'Sanitizer|runtime error' '$TMP/promlab.log'"

"$PROMTOOL" tsdb analyze "$DATA" >"$TMP/analyze.txt" 2>&1
check "promtool tsdb analyze reads promlab's blocks" grep -q "^Block ID:" "$TMP/analyze.txt"
"$PROMTOOL" tsdb dump "$DATA" >"$TMP/dump.txt" 2>"$TMP/dump.err"
check "promtool tsdb dump reads blocks + WAL" [ $? -eq 0 ]
L='{__name__="cmp_value", instance="127.0.0.1:'$NE_PORT'", job="node", k="a"}'
# A scrape that fails on a loaded machine (400ms timeout) writes staleness
# markers (NaN in the dump), which count_over_time does not count: the
# sample counts below are of real samples; uniqueness is over all of them.
grep -F "$L " "$TMP/dump.txt" | awk '{print $NF}' | sort -n >"$TMP/all.ts"
grep -F "$L " "$TMP/dump.txt" | awk '$(NF-1) != "NaN" {print $NF}' | sort -n >"$TMP/a.ts"
n_all=$(wc -l <"$TMP/a.ts")
n_stale=$(( $(wc -l <"$TMP/all.ts") - n_all ))
echo "# $n_all samples of cmp_value{k=a}, $n_stale staleness markers"
check "promtool sees every sample once (no duplicate timestamps across block/head)" \
  [ "$n_all" -gt 100 -a "$(sort -u "$TMP/all.ts" | wc -l)" -eq "$(wc -l <"$TMP/all.ts")" ]
check "every value is exactly what was scraped (42; staleness markers aside)" \
  [ "$(grep -F "$L " "$TMP/dump.txt" | awk '{print $(NF-1)}' | grep -vx NaN | sort -u)" = 42 ]
n_at=$(awk -v t="$at_ms" '$1 <= t && $1 > t - 600000' "$TMP/a.ts" | wc -l)
check "the live query over blocks + head counted every sample once ($live_count = $n_at)" [ "$live_count" = "$n_at" ]
# The block holds the samples up to its maxTime exactly.
first_block=$(ls -d "$DATA"/*/ | head -1)
"$PROMTOOL" tsdb dump "$DATA" --min-time=0 --max-time=$(( $(jq .maxTime "$first_block/meta.json") - 1 )) >"$TMP/dump1.txt" 2>/dev/null
check "the first block's samples are all in the dump" [ "$(grep -cF "$L " "$TMP/dump1.txt")" -gt 0 ]
last_ts=$(tail -1 "$TMP/a.ts")
last_at=$(awk -v t="$last_ts" 'BEGIN{printf "%.3f", t/1000}')

# Restart: the blocks load, the WAL replay does not duplicate what they hold.
cp -r "$DATA" "$TMP/prom-data"
start_bg "$TMP/promlab2.log" "$PROMLAB" server "${FLAGS[@]}"
PID=$LAST_PID
check "promlab restarts on its blocks" wait_for 20 http_ok $URL/-/ready
check "after restart: the same $n_all samples of cmp_value{k=a}" \
  [ "$(qat $URL 'count_over_time(cmp_value{k="a"}[1h])' "$last_at" '.data.result[0].value[1]')" = "$n_all" ]
check "after restart: cmp_value{k=d} = 123456789.125" \
  [ "$(qat $URL 'cmp_value{k="d"}' "$last_at" '.data.result[0].value[1]')" = "123456789.125" ]
check "after restart: the churn series are still in the blocks" \
  [ "$(qat $URL 'count(count_over_time(churn_value[1h]))' "$last_at" '.data.result[0].value[1]')" = "2000" ]
kill -TERM "$PID"; wait "$PID"
check "no sanitizer reports after restart" sh -c "! grep -qE 'Sanitizer|runtime error' '$TMP/promlab2.log'"

# A real Prometheus 2.42 on the data dir promlab wrote (blocks + snappy WAL).
P_PORT=$(free_port)
printf 'global:\n  scrape_interval: 1h\n' >"$TMP/empty.yml"
start_bg "$TMP/prom.log" "$PROM" --config.file="$TMP/empty.yml" --storage.tsdb.path="$TMP/prom-data" \
  --web.listen-address=127.0.0.1:$P_PORT --storage.tsdb.min-block-duration=1m --storage.tsdb.max-block-duration=1m \
  --storage.tsdb.retention.time=100y
PPID_=$LAST_PID
check "Prometheus 2.42 starts on promlab's data dir" wait_for 40 http_ok http://127.0.0.1:$P_PORT/-/ready
P=http://127.0.0.1:$P_PORT
check "Prometheus counts the same $n_all samples of cmp_value{k=a}" \
  [ "$(qat $P 'count_over_time(cmp_value{k="a"}[1h])' "$last_at" '.data.result[0].value[1]')" = "$n_all" ]
check "Prometheus answers cmp_value{k=d} = 123456789.125" \
  [ "$(qat $P 'cmp_value{k="d"}' "$last_at" '.data.result[0].value[1]')" = "123456789.125" ]
check "Prometheus answers cmp_value{k=b} = -1.5e-300" \
  [ "$(qat $P 'cmp_value{k="b"}' "$last_at" '.data.result[0].value[1]')" = "-1.5e-300" ]
check "Prometheus sees the 2000 churn series in promlab's blocks" \
  [ "$(qat $P 'count(count_over_time(churn_value[1h]))' "$last_at" '.data.result[0].value[1]')" = "2000" ]
check "Prometheus logs no error and no corruption" sh -c "! grep -qiE 'corrupt|level=error' '$TMP/prom.log'"
kill -TERM "$PPID_"; wait "$PPID_" 2>/dev/null
