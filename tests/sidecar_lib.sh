# sidecar_lib.sh — helpers shared by tests/integration/sidecar_fs.sh and sidecar_s3.sh
# (sourced after lib.sh).

PROMETHEUS=$(command -v prometheus || echo /usr/bin/prometheus)
PROMTOOL=$(command -v promtool || echo /usr/bin/promtool)

# gen_om FILE START_SECONDS HOURS: OpenMetrics, 20 series at 15 s.
gen_om() {
  awk -v start="$2" -v hours="$3" 'BEGIN {
    print "# TYPE lab_metric gauge";
    steps = hours * 240;
    for (s = 0; s < 20; s++)
      for (i = 0; i < steps; i++)
        printf "lab_metric{series=\"%d\",job=\"lab\"} %d %d\n", s, (i * 7 + s * 13) % 1000, start + i * 15;
    print "# EOF";
  }' >"$1"
}

# A start 8 h back, 10 min past a 2 h boundary: four blocks (three full, one partial).
NOW=$(date +%s)
BF_START=$(( (NOW - 8 * 3600) / 7200 * 7200 + 600 ))

write_prom_config() { # FILE [LABELS...]: a prometheus.yml with the given external labels (name=value)
  local f=$1; shift
  { echo "global:"; echo "  scrape_interval: 15s"
    if [ $# -gt 0 ]; then
      echo "  external_labels:"
      for kv in "$@"; do echo "    ${kv%%=*}: ${kv#*=}"; done
    fi
    echo "scrape_configs: []"; } >"$f"
}

# metric URL NAME_REGEX: the value of the first sample whose line starts with NAME_REGEX.
metric() { curl -fsS "$1/metrics" 2>/dev/null | grep -E "^$2 " | head -1 | awk '{print $NF}'; }
metric_ge() { local v; v=$(metric "$1" "$2"); [ -n "$v" ] && awk -v a="$v" -v b="$3" 'BEGIN{exit !(a+0 >= b+0)}'; }

blocks_of() { ls -d "$1"/01* 2>/dev/null | xargs -n1 basename; }

# check_block_in_dir LOCAL_DATA ULID BUCKET_BLOCK_DIR LABEL_JQ: the shipped block matches.
check_shipped_block() {
  local data=$1 u=$2 bdir=$3 want_labels=$4
  [ -f "$bdir/meta.json" ] || { echo "# $u: no meta.json in bucket"; return 1; }
  cmp -s "$data/$u/index" "$bdir/index" || { echo "# $u: index differs"; return 1; }
  cmp -s "$data/$u/chunks/000001" "$bdir/chunks/000001" || { echo "# $u: chunks differ"; return 1; }
  local got
  got=$(jq -c '[.ulid, .thanos.labels, .thanos.source, .thanos.downsample.resolution, .thanos.version]' "$bdir/meta.json")
  [ "$got" = "[\"$u\",$want_labels,\"sidecar\",0,1]" ] || { echo "# $u: thanos section $got"; return 1; }
  local isz csz
  isz=$(stat -c %s "$data/$u/index"); csz=$(stat -c %s "$data/$u/chunks/000001")
  got=$(jq -c '.thanos.files' "$bdir/meta.json")
  [ "$got" = "[{\"rel_path\":\"chunks/000001\",\"size_bytes\":$csz},{\"rel_path\":\"index\",\"size_bytes\":$isz},{\"rel_path\":\"meta.json\"}]" ] \
    || { echo "# $u: files $got"; return 1; }
  # everything but the thanos section is the local meta.json
  [ "$(jq -S 'del(.thanos)' "$bdir/meta.json")" = "$(jq -S . "$data/$u/meta.json")" ] || { echo "# $u: meta differs"; return 1; }
}

no_sanitizer_reports() { ! grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error' "$@"; }
