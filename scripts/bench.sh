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
echo "== relabeling (bench_relabel)"
"$BUILD/bin/bench_relabel" | tee reports/bench/relabel.txt
echo "== PromQL dashboard queries vs Prometheus 2.42 (bench-promql.sh)"
scripts/bench-promql.sh ${BENCH_PROMQL_SERIES:-100000 1000000}
echo "== end-to-end scrape memory"
for n in ${BENCH_SERIES:-100000 1000000}; do
  for s in promlab ${BENCH_PEERS:-}; do
    scripts/bench-scrape-memory.sh "$n" "${BENCH_MINUTES:-10}" "$s"
  done
done
scripts/bench-summary.sh
