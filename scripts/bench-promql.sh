#!/usr/bin/env bash
# PromQL benchmark: the dashboard queries against promlab and Prometheus 2.42
# (Debian's `prometheus`, when installed) over the same series.
#
#   scripts/bench-promql.sh [SERIES...]        (default: 100000 1000000)
#
# For each size, bench_promql writes a data dir (a snappy WAL: SERIES active
# series sampled every minute for the last hour, node_cpu_seconds_total for
# the last 24h; see impl/bench/bench_promql.c). Each server starts on its own
# copy, replays the WAL into its head, and gets every query RUNS times
# (default 3) over HTTP (POST, form-encoded, as Grafana sends them); the
# median of curl's total time is reported (with the min). Both servers run with
# --storage.tsdb.min-block-duration=48h so neither compacts the head into
# blocks while being timed (each answers from its head, as it replayed it),
# and --query.max-samples raised so no query fails on its default limit.
# BENCH_PROMQL_SKIP_PROMETHEUS=1 times promlab alone (the report says so).
# Writes reports/bench/promql.md and reports/bench/promql.json.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
RUNS=${RUNS:-3}
PORT=${PORT:-19390}
SIZES=${*:-100000 1000000}
OUT=reports/bench; mkdir -p "$OUT"
TMP=$(mktemp -d /tmp/promlab-bench-promql.XXXXXX)
SPID=""
cleanup() { [ -n "$SPID" ] && kill "$SPID" 2>/dev/null; wait 2>/dev/null || true; [ -n "${KEEP_TMP:-}" ] || rm -rf "$TMP"; }
trap cleanup EXIT

names=(sum_rate topk_count_by_name histogram_quantile regex_matchers range_24h_1m count_all)
queries=(
  'sum by (job) (rate(http_requests_total[5m]))'
  'topk(10, count by (__name__)({__name__!=""}))'
  'histogram_quantile(0.9, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))'
  'count({__name__=~"avalanche_metric_mmmmm_0_1.*", label_key_kkkkk_3=~"label_val_vvvvv_[1-3]", label_key_kkkkk_9!~".*7"})'
  'sum by (mode) (rate(node_cpu_seconds_total[5m]))'
  'count({__name__=~".+"})'
)

cat >"$TMP/prometheus.yml" <<YML
global:
  scrape_interval: 1h
scrape_configs: []
YML

# run_server NAME DATA: starts the server on DATA, waits until it is ready.
run_server() {
  case "$1" in
    promlab)
      "$BUILD/bin/promlab" server --config.file="$TMP/prometheus.yml" --storage.tsdb.path="$2" \
        --web.listen-address=127.0.0.1:$PORT --storage.tsdb.min-block-duration=48h \
        --storage.tsdb.max-block-duration=48h --query.max-samples=200000000 --query.timeout=10m \
        --log.level=warn 2>"$TMP/$1.log" & ;;
    prometheus)
      prometheus --config.file="$TMP/prometheus.yml" --storage.tsdb.path="$2" \
        --web.listen-address=127.0.0.1:$PORT --storage.tsdb.min-block-duration=48h \
        --storage.tsdb.max-block-duration=48h --query.max-samples=200000000 --query.timeout=10m \
        --log.level=warn 2>"$TMP/$1.log" & ;;
  esac
  SPID=$!
  local t0=$SECONDS
  until curl -fsS -o /dev/null http://127.0.0.1:$PORT/-/ready 2>/dev/null; do
    kill -0 "$SPID" 2>/dev/null || { echo "$1 exited:"; cat "$TMP/$1.log"; exit 1; }
    sleep 0.5
  done
  echo "  $1 ready after $((SECONDS - t0)) s (WAL replay), RSS $(awk '/^VmRSS/{printf "%d MiB", $2/1024}' /proc/$SPID/status)"
}

# CPU seconds (user + system) the server process has used so far.
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15) / hz }' "/proc/$SPID/stat"; }

# time_query I END_S: prints "median min cpu_median" seconds (wall time of the
# answer, and the server's CPU time for it, which load on the machine
# inflates less); "failed failed failed" on an error answer.
time_query() {
  local i=$1 end=$2 ts=() cs=() args c0 c1
  if [ "${names[$i]}" = range_24h_1m ]; then
    args=(--data-urlencode "query=${queries[$i]}" --data-urlencode "start=$((end - 86400))" --data-urlencode "end=$end" --data-urlencode step=60)
    url=http://127.0.0.1:$PORT/api/v1/query_range
  else
    args=(--data-urlencode "query=${queries[$i]}" --data-urlencode "time=$end")
    url=http://127.0.0.1:$PORT/api/v1/query
  fi
  for _ in $(seq 1 "$RUNS"); do
    c0=$(cpu_s)
    t=$(curl -sS -o "$TMP/answer.json" -w '%{time_total}' -X POST "${args[@]}" "$url")
    c1=$(cpu_s)
    cs+=("$(awk -v a="$c0" -v b="$c1" 'BEGIN{printf "%.2f", b - a}')")
    if ! grep -q '"status":"success"' "$TMP/answer.json"; then
      echo "  query ${names[$i]} failed after $t s: $(head -c 300 "$TMP/answer.json")" >&2
      echo "failed failed failed"; return
    fi
    ts+=("$t")
  done
  # the answer's values, for comparing the servers
  jq -c '[.data.result[] | [.metric, ((.value // .values[-1])[1] | tonumber)]] | sort' \
    "$TMP/answer.json" >"$TMP/$srv.$i.json" 2>/dev/null || true
  local cm; cm=$(printf '%s\n' "${cs[@]}" | sort -g | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}')
  printf '%s\n' "${ts[@]}" | sort -g | awk -v c="$cm" '{a[NR]=$1} END{printf "%s %s %s\n", a[int((NR+1)/2)], a[1], c}'
}

# same_answer A B: the same series with values equal to a relative 1e-9
# (summation order may differ in the last bits).
same_answer() {
  jq -e -n --slurpfile a "$1" --slurpfile b "$2" '
    ($a[0] | length) == ($b[0] | length) and
    ([range(0; $a[0] | length) as $k | ($a[0][$k][0] == $b[0][$k][0]) and
      (($a[0][$k][1] - $b[0][$k][1]) | fabs) <= 1e-9 * ([($a[0][$k][1] | fabs), ($b[0][$k][1] | fabs), 1] | max)]
     | all)' >/dev/null
}

num() { [[ ${1:-} =~ ^[0-9.]+$ ]] && echo "$1" || echo null; }
servers=(promlab)
# BENCH_PROMQL_SKIP_PROMETHEUS=1: promlab alone (a quick run; the report says so)
if [ -z "${BENCH_PROMQL_SKIP_PROMETHEUS:-}" ] && command -v prometheus >/dev/null; then servers+=(prometheus); fi
json="$OUT/promql.json"
md="$OUT/promql.md"
echo "[" >"$json"
first=1
rows=()
load_start=$(cut -d" " -f1-3 /proc/loadavg)
for n in $SIZES; do
  echo "== $n series"
  rm -rf "$TMP/data"
  gen=$("$BUILD/bin/bench_promql" "$TMP/data" "$n" 2>/dev/null | tail -1)
  echo "  generated: $gen"
  # Evaluated 30 s off the minute grid of the samples: there Prometheus 2.42's
  # left-closed windows and promlab's left-open (3.x) ones hold the same
  # samples, so the answers can be compared.
  end=$(( $(echo "$gen" | sed 's/.*end_ms=\([0-9]*\).*/\1/') / 1000 - 30 ))
  declare -A med=() mn=() cpus=() same=()
  for s in "${servers[@]}"; do
    rm -rf "$TMP/run"; cp -r "$TMP/data" "$TMP/run"
    run_server "$s" "$TMP/run"
    for i in "${!names[@]}"; do
      srv=$s
      read -r m lo cpu < <(time_query "$i" "$end")
      med[$s,$i]=$m; mn[$s,$i]=$lo; cpus[$s,$i]=$cpu
      printf '  %-10s %-20s median %8s s  min %8s s  server cpu %6s s\n' "$s" "${names[$i]}" "$m" "$lo" "$cpu"
    done
    kill "$SPID"; wait "$SPID" 2>/dev/null || true; SPID=""
  done
  for i in "${!names[@]}"; do
    if [ -s "$TMP/prometheus.$i.json" ]; then
      if same_answer "$TMP/promlab.$i.json" "$TMP/prometheus.$i.json"; then echo "  ${names[$i]}: same answer"; same[$i]=yes;
      else echo "  ${names[$i]}: answers differ (promlab $(head -c 150 "$TMP/promlab.$i.json") / prometheus $(head -c 150 "$TMP/prometheus.$i.json"))"; same[$i]=NO; fi
    fi
    p=${med[prometheus,$i]:-}
    ratio=""; [[ $p =~ ^[0-9.]+$ ]] && ratio=$(awk -v a="${med[promlab,$i]}" -v b="$p" 'BEGIN{printf "%.1f", b/a}')
    rows+=("| $n | \`${queries[$i]}\`$([ "${names[$i]}" = range_24h_1m ] && echo " (24h, step 1m)" || true) | ${med[promlab,$i]} | ${cpus[promlab,$i]} | ${p:-n/a} | ${cpus[prometheus,$i]:-n/a} | ${ratio:-n/a} | ${same[$i]:-n/a} |")
    [ $first -eq 1 ] || echo "," >>"$json"; first=0
    printf '  {"series": %s, "query": "%s", "promlab_s": %s, "promlab_min_s": %s, "prometheus_2_42_s": %s, "prometheus_2_42_min_s": %s, "promlab_cpu_s": %s, "prometheus_2_42_cpu_s": %s, "same_answer": "%s"}' \
      "$n" "${names[$i]}" "$(num "${med[promlab,$i]}")" "$(num "${mn[promlab,$i]}")" "$(num "$p")" "$(num "${mn[prometheus,$i]:-}")" "$(num "${cpus[promlab,$i]}")" "$(num "${cpus[prometheus,$i]:-}")" "${same[$i]:-n/a}" >>"$json"
  done
  unset med mn cpus same
done
echo "]" >>"$json"
{
  echo "# PromQL benchmark: promlab vs Prometheus 2.42"
  echo
  echo "Generated by \`scripts/bench-promql.sh\` (\`make bench\`) on $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores."
  echo "Same WAL replayed into each server's head; each query POSTed $RUNS times over HTTP: median wall seconds (curl total time) and the server's CPU seconds for it (user+system, median); load average at the start: $load_start, at the end: $(cut -d" " -f1-3 /proc/loadavg) (the machine is shared). Answers compared (same series, values to 1e-9 relative; evaluated 30 s off the sample grid, where 2.42's left-closed and 3.x's left-open windows hold the same samples)."
  if [ -n "${BENCH_PROMQL_SKIP_PROMETHEUS:-}" ]; then echo; echo "**Prometheus 2.42 was not run** (BENCH_PROMQL_SKIP_PROMETHEUS=1): promlab alone, no comparison in this run."; fi
  echo
  echo "| series | query | promlab (s) | promlab cpu (s) | Prometheus 2.42 (s) | Prometheus cpu (s) | speed-up (wall) | same answer |"
  echo "|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
} >"$md"
cat "$md"
