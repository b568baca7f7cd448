#!/usr/bin/env bash
# promlab-loadgen end to end: the exporter's series as a real Prometheus 2.42
# (Debian's) and promlab count them, formats and churn, the query load against
# a server of known latency, a `run` of the quick scenario against the ASan
# promlab with its report, `gate` verdicts, and backfill read by promtool.
source "$(dirname "$0")/../lib.sh"

LG=${LOADGEN:-$ROOT/$BUILD/asan/bin/promlab-loadgen}
PROMETHEUS=$(command -v prometheus || echo /usr/bin/prometheus)
PROMTOOL=$(command -v promtool || echo /usr/bin/promtool)
jqe() { jq -e "$@" >/dev/null; }

# --- serve: two targets of 10 gauges + 2 counters x 50 series = 600 series each
E_PORT=$(free_port)
start_bg "$TMP/serve.log" "$LG" serve --port=$E_PORT --targets=2 --gauge-metric-count=10 --counter-metric-count=2 \
  --series-count=50 --label-count=3 --value-interval=1 --series-interval=0 --duration=120s
check "serve starts (two ports)" wait_for 15 http_ok http://127.0.0.1:$((E_PORT + 1))/metrics
curl -fsS http://127.0.0.1:$E_PORT/metrics >"$TMP/text.txt"
check "text 0.0.4: 600 series" [ "$(grep -vc '^#' "$TMP/text.txt")" = 600 ]
check "text 0.0.4: avalanche 0.7 names and labels" grep -qE \
  '^avalanche_gauge_metric_mmmmm_0_9\{cycle_id="0",label_key_kkkkk_0="label_val_vvvvv_0",label_key_kkkkk_1="label_val_vvvvv_1",label_key_kkkkk_2="label_val_vvvvv_2",series_id="49"\} [0-9]+$' "$TMP/text.txt"
curl -fsS -H 'Accept: application/openmetrics-text;version=1.0.0' -D "$TMP/om.h" --compressed http://127.0.0.1:$E_PORT/metrics >"$TMP/om.txt"
check "OpenMetrics by Accept: content type, # EOF last, counter family without _total" \
  bash -c "grep -qi '^content-type: application/openmetrics-text' '$TMP/om.h' && [ \"\$(tail -1 '$TMP/om.txt')\" = '# EOF' ] && grep -q '^# TYPE avalanche_counter_metric_mmmmm_0_0 counter' '$TMP/om.txt'"
check "gzip when accepted" bash -c "curl -fsS -H 'Accept-Encoding: gzip' -D - -o /dev/null http://127.0.0.1:$E_PORT/metrics | grep -qi '^content-encoding: gzip'"

# a path per target on one port; churn every 2 s
O_PORT=$(free_port)
start_bg "$TMP/serve2.log" "$LG" serve --port=$O_PORT --targets=3 --one-port --gauge-metric-count=1 --series-count=5 \
  --label-count=1 --series-interval=2 --duration=120s
check "one port: /target/2/metrics answers" wait_for 15 http_ok http://127.0.0.1:$O_PORT/target/2/metrics
check "one port: /target/3/metrics is 404" [ "$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$O_PORT/target/3/metrics)" = 404 ]
cycled() { curl -fsS http://127.0.0.1:$O_PORT/target/0/metrics >"$TMP/churn.txt" && grep -q 'cycle_id="[1-9]' "$TMP/churn.txt" && ! grep -q 'cycle_id="0"' "$TMP/churn.txt"; }
check "churn: --series-interval replaces cycle_id 0 for every series" wait_for 15 cycled
check "churn: still 5 series per scrape" [ "$(grep -vc '^#' "$TMP/churn.txt")" = 5 ]

# --- a real Prometheus 2.42 and promlab scrape both targets: 1200 series
cat >"$TMP/prometheus.yml" <<YML
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: lg
    static_configs:
      - targets: ['127.0.0.1:$E_PORT', '127.0.0.1:$((E_PORT + 1))']
YML
P_PORT=$(free_port); L_PORT=$(free_port)
start_bg "$TMP/prometheus.log" "$PROMETHEUS" --config.file="$TMP/prometheus.yml" --storage.tsdb.path="$TMP/prom-data" \
  --web.listen-address=127.0.0.1:$P_PORT
start_bg "$TMP/promlab.log" "$PROMLAB" server --config.file="$TMP/prometheus.yml" --storage.tsdb.path="$TMP/promlab-data" \
  --web.listen-address=127.0.0.1:$L_PORT
count_is() { [ "$(query "$1" 'count({job="lg",__name__=~"avalanche_.*"})' '.data.result[0].value[1]')" = "$2" ]; }
check "Prometheus 2.42 scrapes 1200 series from the two targets" wait_for 40 count_is http://127.0.0.1:$P_PORT 1200
check "promlab scrapes 1200 series from the two targets" wait_for 40 count_is http://127.0.0.1:$L_PORT 1200
check "Prometheus sees 2 counters x 50 series x 2 targets" \
  [ "$(query http://127.0.0.1:$P_PORT 'count({__name__=~"avalanche_counter_metric_.*_total"})' '.data.result[0].value[1]')" = 200 ]

# --- the query load against a server of known latency (50 ms per query)
Q_PORT=$(free_port)
start_bg "$TMP/slow.log" "$LG" serve --port=$Q_PORT --gauge-metric-count=1 --series-count=1 --api-latency=50ms --duration=120s
wait_for 15 http_ok http://127.0.0.1:$Q_PORT/metrics
printf 'queries:\n  - expr: up\n  - expr: sum(up)\n    type: range\n    range: 5m\n' >"$TMP/q.yaml"
"$LG" query --url=http://127.0.0.1:$Q_PORT --queries="$TMP/q.yaml" --concurrency=2 --duration=3s --json=- >"$TMP/q.json" 2>"$TMP/q.err"
# Latency bounds: never below the server's 50 ms (a clock that measured less
# would be wrong); the upper bounds leave room for a loaded 2-core machine
# (CI runs three suites at once), where p99 reached 0.3 s.
check "query: closed loop, no errors, at most 2 x 20 queries/s (50 ms each)" jqe '.errors == 0 and .queries > 20 and .achieved_qps > 8 and .achieved_qps < 45' "$TMP/q.json"
check "query: p50 and p99 at or above the server's 50 ms (p50 under 250 ms, p99 under 2 s)" \
  jqe '.p50_seconds >= 0.05 and .p50_seconds < 0.25 and .p99_seconds >= .p50_seconds and .p99_seconds < 2 and .max_seconds >= .p99_seconds' "$TMP/q.json"
"$LG" query --url=http://127.0.0.1:$Q_PORT --queries="$TMP/q.yaml" --rate=10 --duration=3s --json=- >"$TMP/qr.json" 2>>"$TMP/q.err"
check "query: open loop at --rate=10 sends ~30 queries" jqe '.errors == 0 and .queries >= 25 and .queries <= 31' "$TMP/qr.json"
"$LG" query --url=http://127.0.0.1:$P_PORT --queries="$TMP/q.yaml" --concurrency=1 --duration=1s --json=- >"$TMP/qp.json" 2>>"$TMP/q.err"
check "query: against Prometheus 2.42, no errors" jqe '.errors == 0 and .queries > 0' "$TMP/qp.json"

# --- run the quick scenario against the ASan promlab
"$LG" run --promlab="$PROMLAB" --out="$TMP/quick" "$ROOT/loadgen/scenarios/quick.yaml" >"$TMP/run.log" 2>&1
rc=$?
check "run quick.yaml exits 0" [ "$rc" -eq 0 ]
for f in report.md report.json memory.svg latency.svg timeline.svg; do
  check "run: wrote $f" test -s "$TMP/quick/$f"
done
check "run: two steps, the head holds each step's series" \
  jqe '(.steps | length) == 2 and .steps[0].head_series >= 2000 and .steps[1].head_series >= 6000 and .steps[1].head_series < 6100' "$TMP/quick/report.json"
check "run: plausible memory, ingestion and queries" \
  jqe '[.steps[] | .bytes_per_series > 100 and .bytes_per_series < 100000 and .ingest_samples_per_second > 500 and .query.queries > 0 and .query.errors == 0 and .vmhwm_bytes >= .vmrss_bytes] | all' "$TMP/quick/report.json"
check "run: report.md has both tables" bash -c "grep -q '## Memory and ingestion per step' '$TMP/quick/report.md' && grep -q '## Query latency per step' '$TMP/quick/report.md'"
check "run: SVGs are SVG with a line" bash -c "head -c 200 '$TMP/quick/memory.svg' | grep -q '<svg' && grep -q '<polyline' '$TMP/quick/timeline.svg'"

# --- gate: passes against itself, fails against a baseline that used half the memory
"$LG" gate --baseline="$TMP/quick/report.json" --current="$TMP/quick/report.json" --tolerance=10% >"$TMP/gate-same.txt"
check "gate: a run against itself passes (exit 0)" [ $? -eq 0 ]
jq '.steps[1].bytes_per_series /= 2' "$TMP/quick/report.json" >"$TMP/doctored.json"
"$LG" gate --baseline="$TMP/doctored.json" --current="$TMP/quick/report.json" --tolerance=10% >"$TMP/gate-bad.txt"
check "gate: memory per series doubled against a doctored baseline fails (exit 1)" [ $? -eq 1 ]
check "gate: the table names the regression" grep -q 'bytes/series.*REGRESSION' "$TMP/gate-bad.txt"
"$LG" compare "$TMP/doctored.json" "$TMP/quick/report.json" >"$TMP/compare.md"
check "compare: side by side rows for both runs" [ "$(grep -c '^| 2 |' "$TMP/compare.md")" = 2 ]

# --- backfill: OpenMetrics that promtool turns into blocks; blocks that promtool lists
"$LG" backfill --gauge-metric-count=2 --series-count=3 --label-count=1 --series-interval=0 --days=0.25 --resolution=60s \
  --end=2026-11-01T00:00:00Z --output-openmetrics="$TMP/bf.om" >"$TMP/bf.log" 2>&1
check "backfill: OpenMetrics, 6 series x 360 samples" grep -q '^backfill: 2160 samples of 6 series' "$TMP/bf.log"
"$PROMTOOL" tsdb create-blocks-from openmetrics "$TMP/bf.om" "$TMP/bf-promtool" >"$TMP/bf-promtool.log" 2>&1
check "backfill: promtool create-blocks-from openmetrics accepts it" [ $? -eq 0 ]
"$LG" backfill --gauge-metric-count=2 --series-count=3 --label-count=1 --series-interval=0 --days=0.25 --resolution=60s \
  --end=2026-11-01T00:00:00Z --output-blocks="$TMP/bf-blocks" >"$TMP/bf2.log" 2>&1
check "backfill: 6h ending on a 2h boundary make 3 blocks" grep -q '^backfill: 3 block' "$TMP/bf2.log"
"$PROMTOOL" tsdb list "$TMP/bf-blocks" >"$TMP/bf-list.txt" 2>&1
check "backfill: promtool lists 3 blocks of 720 samples each" [ "$(grep -c ' 720 ' "$TMP/bf-list.txt")" = 3 ]

# --- a bad scenario is refused with file:line:col
printf 'name: x\nserver: {url: "http://127.0.0.1:1"}\nsteps:\n  - series: 10\n    hodl: 1s\n' >"$TMP/bad.yaml"
"$LG" run "$TMP/bad.yaml" >"$TMP/bad.log" 2>&1
rc=$?
check "run: bad scenario exits 2 naming file:line:col" bash -c "[ $rc -eq 2 ] && grep -q 'bad.yaml:5:5: unknown key hodl' '$TMP/bad.log'"

# --- serve stops by itself after --duration, cleanly (exit 0; under ASan: no leak)
S_PORT=$(free_port)
"$LG" serve --port=$S_PORT --gauge-metric-count=5 --series-count=100 --value-interval=1 --duration=3s >"$TMP/short.log" 2>&1 &
spid=$!
wait_for 10 http_ok http://127.0.0.1:$S_PORT/metrics
curl -fsS -H 'Accept-Encoding: gzip' -o /dev/null http://127.0.0.1:$S_PORT/metrics
wait $spid
rc=$?
check "serve --duration exits 0 after serving (no leak reported)" bash -c "[ $rc -eq 0 ] && ! grep -q Sanitizer '$TMP/short.log' && grep -q '^served ' '$TMP/short.log'"
