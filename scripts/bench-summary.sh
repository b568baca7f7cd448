#!/usr/bin/env bash
# Writes reports/bench/README.md: a table of every end-to-end scrape memory
# run under reports/bench/ plus the parse and head figures, from the files
# the benchmarks wrote (nothing here is typed in by hand).
set -euo pipefail
cd "$(dirname "$0")/.."
out=reports/bench/README.md
{
  echo "# Benchmarks"
  echo
  echo "Written by \`scripts/bench-summary.sh\` from the files beside it; rerun with \`make bench\`."
  echo
  echo "## Head memory under a real scrape load (scripts/bench-scrape-memory.sh)"
  echo
  echo "Avalanche-shaped targets (10 label pairs + series_id per series) scraped every 15 s; RSS of"
  echo "the server sampled every 5 s; steady = mean RSS over the last 2 minutes; peak = VmHWM."
  echo
  echo "| server | head series | targets | minutes | steady RSS | B/series | peak RSS | peak/steady | date |"
  echo "|---|---|---|---|---|---|---|---|---|"
  for f in reports/bench/scrape-memory-*.json; do
    [ -e "$f" ] || continue
    jq -r '"| \(.server) | \(.head_series) | \(.targets) | \(.minutes) | \(.steady_rss_bytes/1048576|floor) MiB | \(.bytes_per_series) | \(.peak_rss_bytes/1048576|floor) MiB | \(.peak_over_steady) | \(.date) |"' "$f"
  done
  for f in textparse head wal block compact compact_head headcompact relabel rules query_fanout; do
    [ -e "reports/bench/$f.txt" ] || continue
    echo
    echo "## $f (reports/bench/$f.txt)"
    echo
    echo '```'
    cat "reports/bench/$f.txt"
    echo '```'
  done
  if [ -e reports/bench/store.md ]; then
    echo
    echo "## store: a 30-day range query over raw vs 5m vs 1h data (reports/bench/store.md)"
    echo
    sed -n '/^| query/,/^$/p' reports/bench/store.md
  fi
} >"$out"
echo "wrote $out"
