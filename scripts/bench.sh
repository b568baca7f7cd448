#!/usr/bin/env bash
# make bench — the long benchmarks. Figures are printed and written under reports/bench/.
#   BENCH_MINUTES (default 10): how long each end-to-end scrape run lasts.
#   BENCH_SERIES  (default "100000 1000000"): head sizes for the end-to-end runs.
#   BENCH_PEERS   (default ""): also run e.g. "prometheus" (Debian's 2.42) side by side.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
mkdir -p reports/bench
echo "== exposition parse throughput (bench_textparse)"
"$BUILD/bin/bench_textparse" | tee reports/bench/textparse.txt
echo "== head memory, direct appends (bench_head)"
for n in 100000 1000000; do "$BUILD/bin/bench_head" "$n" 40; done | tee reports/bench/head.txt
echo "== WAL bytes per sample by compression, and replay time (bench_wal)"
"$BUILD/bin/bench_wal" | tee reports/bench/wal.txt
echo "== blocks: write, size, scan (bench_block)"
"$BUILD/bin/bench_block" | tee reports/bench/block.txt
echo "== block compaction: chunk copy vs re-encode, 3 blocks of 100k and 1M series (bench_compact)"
"$BUILD/bin/bench_compact" | tee reports/bench/compact.txt
echo "== head compaction at 1M series: block write time, RSS before/after truncation (bench_compact_head)"
"$BUILD/bin/bench_compact_head" 1000000 2>/dev/null | tee reports/bench/compact_head.txt
echo "== memory a head block write adds to the head, 100k and 1M series (bench_headcompact; reports/bench/tsdb-compaction.md)"
{ for n in 100000 1000000; do "$BUILD/bin/bench_headcompact" "$n" 1; "$BUILD/bin/bench_headcompact" "$n" 100; done; } | tee reports/bench/headcompact.txt
echo "== relabeling (bench_relabel)"
"$BUILD/bin/bench_relabel" | tee reports/bench/relabel.txt
echo "== dashboard query: raw series vs recording rule (bench_rules)"
"$BUILD/bin/bench_rules" 100000 5 | tee reports/bench/rules.txt
echo "== fan-out overhead of promlab query, 2 replica leaves vs direct (bench_query_fanout)"
"$BUILD/bin/bench_query_fanout" 100000 20 5 | tee reports/bench/query_fanout.txt
echo "== metric relabeling in the scrape path, cache misses vs hits (bench_scrape_relabel)"
{ "$BUILD/bin/bench_scrape_relabel" 100000 10; "$BUILD/bin/bench_scrape_relabel" 1000000 3; } | tee reports/bench/scrape_relabel.txt
echo "== /api/v1/status/tsdb on a 1M-series head (bench_tsdb_status)"
"$BUILD/bin/bench_tsdb_status" 1000000 | tee reports/bench/tsdb_status.txt
echo "== store: a 30-day range query over raw vs 5m vs 1h data, latency and bytes read (bench-store.sh)"
scripts/bench-store.sh
echo "== PromQL dashboard queries vs Prometheus 2.42 (bench-promql.sh)"
scripts/bench-promql.sh ${BENCH_PROMQL_SERIES:-100000 1000000}
echo "== end-to-end scrape memory"
for n in ${BENCH_SERIES:-100000 1000000}; do
  for s in promlab ${BENCH_PEERS:-}; do
    scripts/bench-scrape-memory.sh "$n" "${BENCH_MINUTES:-10}" "$s"
  done
done
scripts/bench-summary.sh
# promlab-loadgen: the cardinality-explosion scenario (10k -> 100k -> 500k -> 1M series)
# against promlab; report in reports/cardinality-explosion/. BENCH_LOADGEN=0 skips it.
if [ "${BENCH_LOADGEN:-1}" != 0 ] && [ -x "$BUILD/bin/promlab-loadgen" ]; then
  echo "== loadgen: cardinality explosion against promlab"
  "$BUILD/bin/promlab-loadgen" run --reports=reports loadgen/scenarios/cardinality-explosion.yaml
  # judged against the committed baseline (the run of 2026-11-27); BENCH_GATE_TOLERANCE, default 25%:
  # on a shared machine query latency alone moves more than 10%
  "$BUILD/bin/promlab-loadgen" gate --baseline=reports/cardinality-explosion/baseline.json \
    --current=reports/cardinality-explosion/report.json --tolerance="${BENCH_GATE_TOLERANCE:-25%}" ||
    echo "loadgen gate: a figure regressed beyond the tolerance (table above)"
fi
