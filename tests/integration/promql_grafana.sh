#!/usr/bin/env bash
# Grafana's requests against promlab and a real Prometheus 2.42 (Debian's),
# both scraping the same node_exporter textfile: "Save & test" (POST
# form-encoded 1+1, then buildinfo), label names, label values and series
# with match[], metadata, and values at off-grid times; answers compared.
# Where 2.42 and 3.x differ by design (left-closed vs left-open range
# windows) the documented difference is asserted instead.
source "$(dirname "$0")/../lib.sh"

NE=$(command -v prometheus-node-exporter || echo /usr/bin/prometheus-node-exporter)
if ! command -v prometheus >/dev/null || [ ! -x "$NE" ]; then
  echo "# prometheus or node_exporter not installed"; not_ok "prometheus 2.42 and node_exporter are installed"; exit 0
fi
NE_PORT=$(free_port); P_PORT=$(free_port); R_PORT=$(free_port)
PL=http://127.0.0.1:$P_PORT
PR=http://127.0.0.1:$R_PORT

mkdir -p "$TMP/textfile"
cat >"$TMP/textfile/lab.prom" <<'PROM'
# HELP lab_temperature_celsius Temperature of the lab room.
# TYPE lab_temperature_celsius gauge
lab_temperature_celsius{room="a"} 21.5
lab_temperature_celsius{room="b"} 19.25
# HELP lab_requests_total Requests served.
# TYPE lab_requests_total counter
lab_requests_total{path="/a",code="200"} 1027
lab_requests_total{path="/b",code="500"} 3
PROM
start_bg "$TMP/node_exporter.log" "$NE" --web.listen-address=127.0.0.1:$NE_PORT \
  --collector.disable-defaults --collector.textfile --collector.textfile.directory="$TMP/textfile"
check "node_exporter starts" wait_for 15 http_ok http://127.0.0.1:$NE_PORT/metrics

cat >"$TMP/prometheus.yml" <<YML
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: 'node'
    static_configs:
      - targets: ['127.0.0.1:$NE_PORT']
YML
start_bg "$TMP/server.log" "$PROMLAB" server --config.file="$TMP/prometheus.yml" --storage.tsdb.path="$TMP/pl-data" \
  --web.listen-address=127.0.0.1:$P_PORT
SERVER_PID=$LAST_PID
start_bg "$TMP/prometheus.log" prometheus --config.file="$TMP/prometheus.yml" --storage.tsdb.path="$TMP/pr-data" \
  --web.listen-address=127.0.0.1:$R_PORT
check "promlab becomes ready" wait_for 20 http_ok $PL/-/ready
check "prometheus 2.42 becomes ready" wait_for 30 http_ok $PR/-/ready
has_samples() { [ "$(query "$1" 'count_over_time(lab_temperature_celsius{room="a"}[1m])' '.data.result[0].value[1]')" -ge 8 ] 2>/dev/null; }
check "promlab has scraped 8 times" wait_for 30 has_samples $PL
check "prometheus has scraped 8 times" wait_for 30 has_samples $PR

# Grafana's "Save & test": POST form-encoded 1+1 at a fixed time, then buildinfo.
T=$(( $(date +%s) - 1 ))
post() { curl -fsS -X POST -H 'Content-Type: application/x-www-form-urlencoded' "$@"; }
a=$(post --data-urlencode 'query=1+1' --data-urlencode "time=$T.123" $PL/api/v1/query)
b=$(post --data-urlencode 'query=1+1' --data-urlencode "time=$T.123" $PR/api/v1/query)
check "POST 1+1: the same answer as Prometheus ($a)" [ "$a" = "$b" ]
check "POST 1+1: scalar 2 at the given time" [ "$a" = "{\"status\":\"success\",\"data\":{\"resultType\":\"scalar\",\"result\":[$T.123,\"2\"]}}" ]
keys() { curl -fsS "$1/api/v1/status/buildinfo" | jq -c '[.status, (.data | keys)]'; }
check "buildinfo: the same fields as Prometheus ($(keys $PL))" [ "$(keys $PL)" = "$(keys $PR)" ]

# Label names, values and series with match[] (GET and POST as Grafana does).
same() { # DESCRIPTION PATH [POST-BODY]: the JSON answers of both are equal
  local d=$1 p=$2 x y
  if [ $# -gt 2 ]; then x=$(post --data "$3" "$PL$p" | jq -S -c .); y=$(post --data "$3" "$PR$p" | jq -S -c .)
  else x=$(curl -fsS -g "$PL$p" | jq -S -c .); y=$(curl -fsS -g "$PR$p" | jq -S -c .); fi
  if [ -n "$x" ] && [ "$x" = "$y" ]; then ok "$d"; else not_ok "$d"; echo "# promlab:    $x"; echo "# prometheus: $y"; fi
}
same "labels with match[] (GET)" "/api/v1/labels?match[]=%7Bjob%3D%22node%22%2C__name__%3D~%22lab_.*%22%7D"
same "labels with match[] (POST, with start/end)" "/api/v1/labels" \
  "match%5B%5D=lab_requests_total&start=$((T - 60))&end=$T"
same "label values of path with match[]" "/api/v1/label/path/values?match[]=lab_requests_total"
same "label values of room" "/api/v1/label/room/values"
same "series with two match[]" "/api/v1/series?match[]=lab_temperature_celsius&match[]=lab_requests_total%7Bcode%3D%22500%22%7D&start=$((T - 60))&end=$T"
same "series (POST)" "/api/v1/series" "match%5B%5D=%7Broom%3D%22b%22%7D&start=$((T - 60))&end=$T"
same "metadata of one metric" "/api/v1/metadata?metric=lab_temperature_celsius"
same "metadata of a counter" "/api/v1/metadata?metric=lab_requests_total"

# Values at off-grid times (not on either server's scrape timestamps).
val() { curl -fsS --get --data-urlencode "query=$2" --data-urlencode "time=$3" "$1/api/v1/query" | jq -S -c .data; }
for q in 'lab_temperature_celsius' 'sum by (code) (lab_requests_total)' 'rate(lab_requests_total[20s])' \
         'max_over_time(lab_temperature_celsius[30s]) - min_over_time(lab_temperature_celsius[30s])' \
         'lab_requests_total / ignoring(code) group_left sum without (code) (lab_requests_total)'; do
  for off in 0.337 2.719; do
    x=$(val $PL "$q" "$(echo "$T - $off" | bc)"); y=$(val $PR "$q" "$(echo "$T - $off" | bc)")
    if [ -n "$x" ] && [ "$x" = "$y" ]; then ok "value of $q at T-$off s"; else not_ok "value of $q at T-$off s"; echo "# promlab $x"; echo "# prometheus $y"; fi
  done
done

# The documented difference: a range exactly as long as two scrape intervals,
# evaluated at a scrape timestamp, holds 3 samples in 2.42 ([t-r, t]) and 2
# in 3.x ((t-r, t]). Each server's own sample timestamps are used.
window_counts() { # URL: "<count>" for the window from the 3rd-last to the last sample
  local url=$1 ts
  ts=$(curl -fsS --get --data-urlencode 'query=lab_temperature_celsius{room="a"}[10s]' --data-urlencode "time=$T" "$url/api/v1/query" \
       | jq -r '.data.result[0].values | .[-3:] | map(.[0] | tostring) | join(" ")')
  set -- $ts
  [ $# -eq 3 ] || { echo "?"; return; }
  local r_ms; r_ms=$(echo "($3 - $1) * 1000 / 1" | bc)
  curl -fsS --get --data-urlencode "query=count_over_time(lab_temperature_celsius{room=\"a\"}[${r_ms}ms])" \
    --data-urlencode "time=$3" "$url/api/v1/query" | jq -r '.data.result[0].value[1]'
}
n_pl=$(window_counts $PL); n_pr=$(window_counts $PR)
check "left-open window in promlab (3.x): 2 samples in (t-r, t] (got $n_pl)" [ "$n_pl" = "2" ]
check "left-closed window in Prometheus 2.42: 3 samples in [t-r, t] (got $n_pr)" [ "$n_pr" = "3" ]

# Errors read the same way (errorType; 2.42 words some messages differently).
et() { curl -sS -g "$1$2" | jq -r .errorType; }
check "bad query: bad_data in both" [ "$(et $PL '/api/v1/query?query=sum(')" = "$(et $PR '/api/v1/query?query=sum(')" ]
check "series without match[]: bad_data in both" [ "$(et $PL /api/v1/series)" = "$(et $PR /api/v1/series)" ]

kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null
check "no sanitizer reports in the server log" sh -c "! grep -E 'ERROR: (Address|Leak)Sanitizer|runtime error' '$TMP/server.log'"
if grep -qE 'Sanitizer|runtime error' "$TMP/server.log"; then grep -A20 -E 'Sanitizer|runtime error' "$TMP/server.log" | head -60 | sed 's/^/# /'; fi
