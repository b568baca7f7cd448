#!/usr/bin/env bash
# Blocks in Prometheus's format, both ways, against Debian's promtool and
# prometheus 2.42: backfill the same OpenMetrics input (node_exporter-like and
# avalanche-like) with promtool and with promlab; each tool dumps the other's
# blocks sample for sample; promlab's index and chunk files are byte-identical
# to promtool's and no larger; a real Prometheus started on promlab's blocks
# answers /api/v1/query with the values promlab wrote. Prints bytes/sample.
source "$(dirname "$0")/../lib.sh"

PROMTOOL=$(command -v promtool || echo /usr/bin/promtool)
PROMETHEUS=$(command -v prometheus || echo /usr/bin/prometheus)
if [ ! -x "$PROMTOOL" ]; then
  echo "# promtool not installed: skipping"
  ok "skipped (no promtool)"
  exit 0
fi

START=1700000000   # not 2h-aligned: the first block is partial, as in real backfills

# gen KIND SERIES HOURS: OpenMetrics with 15s samples.
#  node: counters with 2-decimal values growing at different rates (cpu-like);
#  aval: avalanche-style gauges, random integers 0-100 changing every 8 scrapes.
gen() {
  awk -v kind="$1" -v n="$2" -v hours="$3" -v start="$START" 'BEGIN {
    srand(42); steps = hours * 3600 / 15;
    if (kind == "node") {
      print "# HELP node_cpu_seconds Seconds the CPUs spent in each mode.";
      print "# TYPE node_cpu_seconds counter";
      for (s = 0; s < n; s++) {
        cpu = int(s / 8); mode = s % 8; v = s * 1000 + rand() * 100;
        for (i = 0; i < steps; i++) {
          v += rand() * 15 * (mode == 0 ? 0.9 : 0.01);
          printf "node_cpu_seconds_total{cpu=\"%d\",instance=\"host-%d:9100\",job=\"node\",mode=\"m%d\"} %.2f %.3f\n", cpu % 16, int(cpu / 16), mode, v, start + i * 15;
        }
      }
    } else {
      print "# TYPE avalanche_metric_mmmmm gauge";
      for (s = 0; s < n; s++) {
        m = int(s / 10); sid = s % 10; v = 0;
        for (i = 0; i < steps; i++) {
          if (i % 8 == 0) v = int(rand() * 100);
          printf "avalanche_metric_mmmmm_%d{cycle_id=\"0\",label_key_kkkkk_0=\"label_val_vvvvv_0\",series_id=\"%d\"} %d %d\n", m, sid, v, start + i * 15;
        }
      }
    }
    print "# EOF";
  }'
}

# files_by_mintime DIR NAME: md5 of DIR/*/NAME, blocks ordered by minTime.
files_by_mintime() {
  for b in "$1"/*/; do
    [ -f "$b/meta.json" ] || continue
    echo "$(jq .minTime "$b/meta.json") $(cat "$b/$2" | md5sum | cut -d' ' -f1)"
  done | sort -n
}

dir_bytes() { find "$1" -type f -not -path "*/wal/*" -printf "%s\n" | awk "{s+=\$1} END {print s+0}"; }

for kind in node aval; do
  case $kind in node) nser=160; hours=6 ;; aval) nser=200; hours=6 ;; esac
  gen $kind $nser $hours >"$TMP/$kind.om"
  nsamples=$((nser * hours * 240))
  P=$TMP/promtool-$kind; M=$TMP/promlab-$kind
  mkdir -p "$P/wal" "$M/wal"
  "$PROMTOOL" tsdb create-blocks-from openmetrics "$TMP/$kind.om" "$P" >"$TMP/$kind.promtool.out" 2>&1
  check "$kind: promtool backfill succeeds" [ $? -eq 0 ]
  "$PROMLAB" tool tsdb create-blocks-from openmetrics "$TMP/$kind.om" "$M" >"$TMP/$kind.promlab.out" 2>&1
  check "$kind: promlab backfill succeeds" [ $? -eq 0 ]
  check "$kind: both made the same number of blocks (4)" \
    [ "$(ls -d "$P"/01* | wc -l)" = 4 -a "$(ls -d "$M"/01* | wc -l)" = 4 ]
  check "$kind: promlab prints promtool's block table" \
    grep -qE '^BLOCK ULID +MIN TIME +MAX TIME +DURATION +NUM SAMPLES +NUM CHUNKS +NUM SERIES +SIZE$' "$TMP/$kind.promlab.out"

  "$PROMTOOL" tsdb dump "$P" >"$TMP/$kind.p.p" 2>/dev/null
  "$PROMTOOL" tsdb dump "$M" >"$TMP/$kind.p.m" 2>"$TMP/$kind.p.m.err"
  "$PROMLAB" tool tsdb dump "$P" >"$TMP/$kind.m.p" 2>"$TMP/$kind.m.p.err"
  "$PROMLAB" tool tsdb dump "$M" >"$TMP/$kind.m.m" 2>/dev/null
  check "$kind: promtool dump has every input sample ($nsamples)" [ "$(wc -l <"$TMP/$kind.p.p")" -eq $nsamples ]
  check "$kind: promtool dumps promlab's blocks exactly as its own" cmp -s "$TMP/$kind.p.p" "$TMP/$kind.p.m"
  check "$kind: promlab dumps promtool's blocks exactly as promtool does" cmp -s "$TMP/$kind.p.p" "$TMP/$kind.m.p"
  check "$kind: promlab dumps its own blocks the same" cmp -s "$TMP/$kind.p.p" "$TMP/$kind.m.m"
  check "$kind: index files byte-identical to promtool's" \
    [ "$(files_by_mintime "$P" index)" = "$(files_by_mintime "$M" index)" ]
  check "$kind: chunk files byte-identical to promtool's" \
    [ "$(files_by_mintime "$P" chunks/000001)" = "$(files_by_mintime "$M" chunks/000001)" ]
  pb=$(dir_bytes "$P"); mb=$(dir_bytes "$M")
  echo "# $kind: $nsamples samples, $nser series; promtool $pb bytes ($(awk -v b=$pb -v n=$nsamples 'BEGIN{printf "%.3f", b/n}') B/sample), promlab $mb bytes ($(awk -v b=$mb -v n=$nsamples 'BEGIN{printf "%.3f", b/n}') B/sample)"
  check "$kind: promlab's blocks are no larger than promtool's ($mb <= $pb)" [ "$mb" -le "$pb" ]

  "$PROMTOOL" tsdb analyze "$M" >"$TMP/$kind.analyze.p" 2>&1
  check "$kind: promtool analyze reads promlab's newest block" grep -q "^Series: $nser$" "$TMP/$kind.analyze.p"
  "$PROMLAB" tool tsdb analyze "$P" >"$TMP/$kind.analyze.m" 2>&1
  check "$kind: promlab analyze agrees with promtool on the header lines" \
    [ "$(sed -n '2,6p' "$TMP/$kind.analyze.m")" = "$("$PROMTOOL" tsdb analyze "$P" 2>/dev/null | sed -n '2,6p')" ]
  check "$kind: promlab list == promtool list (same blocks)" \
    [ "$("$PROMLAB" tool tsdb list "$P")" = "$("$PROMTOOL" tsdb list "$P" 2>/dev/null)" ]
done

# --max-block-duration=6h: 6h-aligned blocks, still byte-identical.
mkdir -p "$TMP/p6/wal" "$TMP/m6/wal"
"$PROMTOOL" tsdb create-blocks-from openmetrics --max-block-duration=6h "$TMP/node.om" "$TMP/p6" >/dev/null 2>&1
"$PROMLAB" tool tsdb create-blocks-from openmetrics --max-block-duration=6h "$TMP/node.om" "$TMP/m6" >/dev/null 2>&1
check "--max-block-duration=6h: 2 blocks, as promtool" [ "$(ls -d "$TMP"/m6/01* | wc -l)" = 2 -a "$(ls -d "$TMP"/p6/01* | wc -l)" = 2 ]
check "--max-block-duration=6h: index and chunks byte-identical to promtool's" \
  [ "$(files_by_mintime "$TMP/p6" index; files_by_mintime "$TMP/p6" chunks/000001)" = "$(files_by_mintime "$TMP/m6" index; files_by_mintime "$TMP/m6" chunks/000001)" ]

# dump's --min-time/--max-time/--match, against promtool's.
args=(--min-time=1700003600000 --max-time=1700004000000 '--match={__name__=~"node.+", mode=~"m[12]", cpu!="3"}')
check "dump --min-time --max-time --match == promtool's" \
  [ "$("$PROMLAB" tool tsdb dump "${args[@]}" "$TMP/promtool-node")" = "$("$PROMTOOL" tsdb dump "${args[@]}" "$TMP/promtool-node" 2>/dev/null)" ]
check "dump --match selects something" [ -n "$("$PROMLAB" tool tsdb dump "${args[@]}" "$TMP/promtool-node")" ]

# Refusals, as promtool: no # EOF, a sample without timestamp.
printf 'a 1 1700000000\n' >"$TMP/noeof.om"
mkdir -p "$TMP/bad"
"$PROMLAB" tool tsdb create-blocks-from openmetrics "$TMP/noeof.om" "$TMP/bad" >/dev/null 2>"$TMP/noeof.err"
check "backfill without # EOF fails" [ $? -ne 0 ]
printf 'a 1\n# EOF\n' >"$TMP/nots.om"
"$PROMLAB" tool tsdb create-blocks-from openmetrics "$TMP/nots.om" "$TMP/bad" >/dev/null 2>"$TMP/nots.err"
check "backfill of a sample without timestamp fails" grep -q "expected timestamp" "$TMP/nots.err"
check "no block left behind by failed backfills" [ -z "$(ls "$TMP/bad")" ]

# A real Prometheus on a dir holding only promlab's blocks (+ empty wal/).
if [ -x "$PROMETHEUS" ]; then
  D=$TMP/prom-data; cp -r "$TMP/promlab-node" "$D"
  printf 'global:\n  scrape_interval: 1h\n' >"$TMP/prom.yml"
  PORT=$(free_port); URL=http://127.0.0.1:$PORT
  start_bg "$TMP/prometheus.log" timeout 120 "$PROMETHEUS" --config.file="$TMP/prom.yml" \
    --storage.tsdb.path="$D" --web.listen-address=127.0.0.1:$PORT --storage.tsdb.retention.time=100y
  check "prometheus 2.42 starts on promlab's blocks" wait_for 30 http_ok $URL/-/ready
  T=$((START + 3 * 3600 + 15 * 7))   # a sample timestamp inside the second block
  q() { curl -fsS --get --data-urlencode "query=$1" --data-urlencode "time=$T" $URL/api/v1/query; }
  # The same values promlab wrote: compare with promlab's dump at exactly T.
  want=$(grep " ${T}000\$" "$TMP/node.m.m" | awk '{print $NF, $(NF-1)}' | sort | md5sum)
  for s in 1 2 3 4 5 6; do
    got=$(q 'node_cpu_seconds_total' | jq -r '.data.result[] | "\(.value[0]*1000|floor) \(.value[1])"' | sort | md5sum)
    [ "$got" = "$want" ] && break
    sleep 1
  done
  check "prometheus answers node_cpu_seconds_total at T with promlab's values" [ "$got" = "$want" ]
  check "prometheus sees every series (160)" [ "$(q 'count(node_cpu_seconds_total)' | jq -r '.data.result[0].value[1]')" = 160 ]
  one=$(grep "cpu=\"1\", instance=\"host-0:9100\", job=\"node\", mode=\"m0\"} .* ${T}000\$" "$TMP/node.m.m" | awk '{print $(NF-1)}')
  check "prometheus: one series, exact value ($one)" \
    [ "$(q 'node_cpu_seconds_total{cpu="1",instance="host-0:9100",mode="m0"}' | jq -r '.data.result[0].value[1]')" = "$one" ]
else
  echo "# prometheus not installed: skipping the server check"
fi
