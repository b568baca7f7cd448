#!/usr/bin/env bash
# Block compaction against Debian's promtool and prometheus 2.42: backfill
# 14h of 2h blocks plus a second input that overlaps two of them, run
# `promlab tool tsdb compact` (the leveled planner to completion), and check
# that promtool dumps exactly the samples it dumped before, that the merged
# blocks' meta.json has the levels, sources and parents Prometheus's
# compactor gives, and that a real Prometheus on the compacted dir answers
# with the same values. Then kill -9 a compaction mid-way: the dir keeps
# every sample and the next run removes the torn *.tmp-for-creation dir.
source "$(dirname "$0")/../lib.sh"

PROMTOOL=$(command -v promtool || echo /usr/bin/promtool)
PROMETHEUS=$(command -v prometheus || echo /usr/bin/prometheus)
if [ ! -x "$PROMTOOL" ]; then
  echo "# promtool not installed: skipping"
  ok "skipped (no promtool)"
  exit 0
fi

START=1700000000   # not 2h-aligned, as a real backfill; 2h grid at START+6400s
# gen FROM_S TO_S STEP_S S0 S1: series S0..S1-1, value a function of (series, t)
# so that a timestamp present in both inputs has the same value in both.
gen() {
  awk -v from="$1" -v to="$2" -v step="$3" -v s0="$4" -v s1="$5" -v from0="$START" 'BEGIN {
    print "# TYPE ct_metric gauge";
    for (s = s0; s < s1; s++)
      for (t = from; t < to; t += step)
        printf "ct_metric{instance=\"i-%d\",job=\"%s\"} %d %d\n", s, (s % 2 ? "odd" : "even"), s * 100000 + (t - from0) / 5, t;
    print "# EOF";
  }'
}

D=$TMP/data
mkdir -p "$D/wal"
gen $START $((START + 14 * 3600)) 15 0 40 >"$TMP/a.om"                          # 8 blocks
gen $((START + 3 * 3600)) $((START + 5 * 3600)) 10 20 60 >"$TMP/b.om"           # 2 blocks over A's 2nd and 3rd
"$PROMLAB" tool tsdb create-blocks-from openmetrics -q "$TMP/a.om" "$D" >/dev/null 2>&1
check "backfill of input A" [ $? -eq 0 ]
"$PROMLAB" tool tsdb create-blocks-from openmetrics -q "$TMP/b.om" "$D" >/dev/null 2>&1
check "backfill of input B (overlapping A)" [ $? -eq 0 ]
check "10 blocks before compaction" [ "$(ls -d "$D"/01* | wc -l)" = 10 ]
ORIG=$(for m in "$D"/01*/meta.json; do jq -r .ulid "$m"; done | sort)
# The originals whose data ends up in the 18h block: minTime < START+6400+6h.
ORIG18=$(for m in "$D"/01*/meta.json; do jq -r "select(.minTime < $(( (START + 6400 + 6 * 3600) * 1000 ))) | .ulid" "$m"; done | sort)
cp -r "$D" "$TMP/orig"

"$PROMTOOL" tsdb dump "$D" 2>/dev/null | sort >"$TMP/before"
nsamples=$((40 * 14 * 240 + 40 * 2 * 360 - 20 * 2 * 120))
check "promtool dumps every distinct sample before ($nsamples)" [ "$(wc -l <"$TMP/before")" -eq $nsamples ]

"$PROMLAB" tool tsdb compact "$D" >"$TMP/compact.out" 2>&1
check "promlab tool tsdb compact succeeds" [ $? -eq 0 ]
sed 's/^/#   /' "$TMP/compact.out"
check "4 compactions: 2 vertical, 6h, 18h" [ "$(grep -c '^compacted' "$TMP/compact.out")" = 4 ]
check "it says when nothing is left" grep -q '^nothing left to compact (4 compactions)$' "$TMP/compact.out"
check "5 blocks after (the 18h one, three 2h ones, the newest)" [ "$(ls -d "$D"/01* | wc -l)" = 5 ]
check "no temporary dir left" [ -z "$(ls -d "$D"/*.tmp-for-* 2>/dev/null)" ]

"$PROMTOOL" tsdb dump "$D" 2>/dev/null | sort >"$TMP/after"
check "promtool dump after == before (every sample intact, $(wc -l <"$TMP/after") lines)" cmp -s "$TMP/before" "$TMP/after"
"$PROMLAB" tool tsdb dump "$D" 2>/dev/null | sort >"$TMP/after.promlab"
check "promlab dump after == promtool's" cmp -s "$TMP/before" "$TMP/after.promlab"

# meta.json of the merged blocks.
TOP=$(for m in "$D"/01*/meta.json; do echo "$(jq .compaction.level "$m") $(jq -r .ulid "$m")"; done | sort -n | tail -1 | cut -d' ' -f2)
M=$D/$TOP/meta.json
"$PROMTOOL" tsdb analyze "$D" "$TOP" >"$TMP/analyze" 2>&1
check "promtool analyze reads the merged block (60 series)" grep -q '^Series: 60$' "$TMP/analyze"
check "the top block is level 4 (2h+overlap -> 6h -> 18h)" [ "$(jq .compaction.level "$M")" = 4 ]
check "its sources are the 6 originals it covers, sorted" [ "$(jq -r '.compaction.sources[]' "$M")" = "$ORIG18" ]
check "its minTime/maxTime span the originals'" \
  [ "$(jq .minTime "$M")" = "$((START * 1000))" -a "$(jq .maxTime "$M")" = "$(jq -s 'map(.maxTime) | max' $(for u in $ORIG18; do echo "$TMP/orig/$u/meta.json"; done))" ]
parents=$(jq -r '[.compaction.parents[].ulid] | join(" ")' "$M")
first=$(for u in $ORIG18; do jq -r "select(.minTime == $((START * 1000))) | .ulid" "$TMP/orig/$u/meta.json"; done)
third=$(grep '^compacted' "$TMP/compact.out" | sed -n 3p | sed 's/.*-> \([0-9A-Z]*\) .*/\1/')
check "its parents: the first 2h block and the 6h block ($parents)" [ "$parents" = "$first $third" ]
check "parents carry their time ranges" [ "$(jq '.compaction.parents[0].minTime' "$M")" = "$((START * 1000))" ]
check "stats: numSamples of the block = its samples in the dump" \
  [ "$(jq .stats.numSamples "$M")" = "$("$PROMTOOL" tsdb dump --max-time=$(( $(jq .maxTime "$M") - 1 )) "$D" 2>/dev/null | wc -l)" ]
check "every original is a source of exactly one block" \
  [ "$(jq -r '.compaction.sources[]' "$D"/01*/meta.json | sort)" = "$ORIG" ]
check "no compacted block is marked deletable or failed" \
  [ -z "$(jq -r 'select(.compaction.deletable or .compaction.failed) | .ulid' "$D"/01*/meta.json)" ]

"$PROMLAB" tool tsdb compact "$D" >"$TMP/compact2.out" 2>&1
check "a second run has nothing to do" grep -q '^nothing left to compact (0 compactions)$' "$TMP/compact2.out"

# A real Prometheus on the compacted dir: same values at T, where both inputs
# had samples (T a multiple of 15s and 10s inside B's range).
if [ -x "$PROMETHEUS" ]; then
  P=$TMP/prom-data; cp -r "$D" "$P"
  printf 'global:\n  scrape_interval: 1h\n' >"$TMP/prom.yml"
  PORT=$(free_port); URL=http://127.0.0.1:$PORT
  start_bg "$TMP/prometheus.log" timeout 120 "$PROMETHEUS" --config.file="$TMP/prom.yml" \
    --storage.tsdb.path="$P" --web.listen-address=127.0.0.1:$PORT --storage.tsdb.retention.time=100y
  check "prometheus 2.42 starts on the compacted blocks" wait_for 30 http_ok $URL/-/ready
  T=$((START + 4 * 3600 + 60))
  q() { curl -fsS --get --data-urlencode "query=$1" --data-urlencode "time=$T" $URL/api/v1/query; }
  # promtool prints values with %g: compare numbers, not strings.
  want=$(grep " ${T}000\$" "$TMP/before" | sed 's/.*instance="\([^"]*\)".* \([^ ]*\) [0-9]*$/\1 \2/' |
    awk '{printf "%s %.0f\n", $1, $2}' | sort)
  for s in 1 2 3 4 5 6; do
    got=$(q 'ct_metric' | jq -r '.data.result[] | "\(.metric.instance) \(.value[1])"' | sort)
    [ "$got" = "$want" ] && break
    sleep 1
  done
  check "prometheus answers ct_metric at T with the dumped values (60 series)" \
    [ "$got" = "$want" -a "$(echo "$want" | wc -l)" = 60 ]
  check "prometheus: a series of both inputs, exact value" \
    [ "$(q 'ct_metric{instance="i-25"}' | jq -r '.data.result[0].value[1]')" = "$((25 * 100000 + (T - START) / 5))" ]
else
  echo "# prometheus not installed: skipping the server check"
fi

# kill -9 mid-compaction: wait for the temporary block dir, kill at once.
C=$TMP/crash
caught=0
for attempt in 1 2 3 4 5; do
  rm -rf "$C"; cp -r "$TMP/orig" "$C"
  "$PROMLAB" tool tsdb compact "$C" >"$TMP/crash.out" 2>&1 &
  pid=$!
  deadline=$((SECONDS + 20))
  while [ $SECONDS -lt $deadline ] && ! compgen -G "$C/*.tmp-for-creation" >/dev/null; do :; done
  kill -9 $pid 2>/dev/null
  wait $pid 2>/dev/null
  if compgen -G "$C/*.tmp-for-creation" >/dev/null; then caught=1; break; fi
done
check "a compaction was killed while writing its block (attempt $attempt)" [ $caught = 1 ]
"$PROMTOOL" tsdb dump "$C" 2>/dev/null | sort >"$TMP/crash.before"
check "after kill -9 every sample is still there" cmp -s "$TMP/before" "$TMP/crash.before"
"$PROMLAB" tool tsdb compact "$C" >"$TMP/crash2.out" 2>&1
check "the next run succeeds" [ $? -eq 0 ]
check "the next run removed the torn block dir" grep -qE '^removed [0-9A-Z]{26}\.tmp-for-creation$' "$TMP/crash2.out"
check "... and nothing else is left behind" [ -z "$(ls -d "$C"/*.tmp-for-* 2>/dev/null)" -a "$(ls -d "$C"/01* | wc -l)" = 5 ]
"$PROMTOOL" tsdb dump "$C" 2>/dev/null | sort >"$TMP/crash.after"
check "after the rerun every sample is intact" cmp -s "$TMP/before" "$TMP/crash.after"

# A merged block whose inputs were not deleted yet (a crash between the
# rename and the deletes): the inputs are removed as parents, not merged again.
R=$TMP/parents; rm -rf "$R"; cp -r "$TMP/orig" "$R"
"$PROMLAB" tool tsdb compact --ranges=2h "$R" >/dev/null 2>&1   # only the vertical merges
n_after=$(ls -d "$R"/01* | wc -l)
for u in $(jq -r '.compaction.parents[]?.ulid' "$R"/01*/meta.json); do cp -r "$TMP/orig/$u" "$R/"; done
"$PROMLAB" tool tsdb compact --ranges=2h "$R" >"$TMP/parents.out" 2>&1
check "parents of a merged block are removed at the next run (4 removed)" \
  [ "$(grep -c '^removed ' "$TMP/parents.out")" = 4 -a "$(ls -d "$R"/01* | wc -l)" = "$n_after" ]
"$PROMTOOL" tsdb dump "$R" 2>/dev/null | sort >"$TMP/parents.after"
check "... with every sample intact" cmp -s "$TMP/before" "$TMP/parents.after"
