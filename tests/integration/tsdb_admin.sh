#!/usr/bin/env bash
# The TSDB admin API (/api/v1/admin/tsdb/*): disabled without
# --web.enable-admin-api with the very status and body a real Prometheus 2.42
# answers; with it, a snapshot is a directory promtool reads with the
# ingested samples, delete_series removes samples from query results (also
# after a restart: the WAL's tombstones), clean_tombstones answers 204.
source "$(dirname "$0")/../lib.sh"

NE=$(command -v prometheus-node-exporter || echo /usr/bin/prometheus-node-exporter)
PROM=$(command -v prometheus || echo /usr/bin/prometheus)
PROMTOOL=$(command -v promtool || echo /usr/bin/promtool)

# status_body METHOD URL [curl args]: "CODE BODY"
status_body() {
  local m=$1 u=$2; shift 2
  local code
  code=$(curl -sS -o "$TMP/.resp" -w '%{http_code}' -X "$m" "$@" "$u")
  echo "$code $(cat "$TMP/.resp")"
}

# ---- disabled: promlab answers as Prometheus 2.42 does ----
printf 'global:\n  scrape_interval: 1h\n' >"$TMP/empty.yml"
P_PORT=$(free_port)
start_bg "$TMP/prom.log" "$PROM" --config.file="$TMP/empty.yml" --storage.tsdb.path="$TMP/prom" \
  --web.listen-address=127.0.0.1:$P_PORT
PROM_PID=$LAST_PID
L_PORT=$(free_port)
start_bg "$TMP/off.log" "$PROMLAB" server --config.file="$TMP/empty.yml" --storage.tsdb.path="$TMP/off" \
  --web.listen-address=127.0.0.1:$L_PORT
OFF_PID=$LAST_PID
check "Prometheus 2.42 is ready" wait_for 30 http_ok http://127.0.0.1:$P_PORT/-/ready
check "promlab (admin API off) is ready" wait_for 20 http_ok http://127.0.0.1:$L_PORT/-/ready
for ep in snapshot delete_series clean_tombstones; do
  want=$(status_body POST "http://127.0.0.1:$P_PORT/api/v1/admin/tsdb/$ep")
  got=$(status_body POST "http://127.0.0.1:$L_PORT/api/v1/admin/tsdb/$ep")
  check "disabled $ep: promlab answers as Prometheus ($got)" [ "$got" = "$want" ]
done
check "disabled: HTTP 500, errorType unavailable, \"admin APIs disabled\"" \
  [ "$(status_body POST "http://127.0.0.1:$L_PORT/api/v1/admin/tsdb/snapshot")" = '500 {"status":"error","errorType":"unavailable","error":"admin APIs disabled"}' ]
check "disabled: no snapshots dir is created" [ ! -e "$TMP/off/snapshots" ]
kill -TERM "$OFF_PID"; wait "$OFF_PID"
kill -TERM "$PROM_PID"; wait "$PROM_PID" 2>/dev/null

# Prometheus with the admin API, for the shape of the answers that carry no data.
start_bg "$TMP/prom2.log" "$PROM" --config.file="$TMP/empty.yml" --storage.tsdb.path="$TMP/prom2" \
  --web.listen-address=127.0.0.1:$P_PORT --web.enable-admin-api
PROM_PID=$LAST_PID
check "Prometheus 2.42 (admin API on) is ready" wait_for 30 http_ok http://127.0.0.1:$P_PORT/-/ready
want_nomatch=$(status_body POST "http://127.0.0.1:$P_PORT/api/v1/admin/tsdb/delete_series")
want_delete=$(status_body POST "http://127.0.0.1:$P_PORT/api/v1/admin/tsdb/delete_series" --data-urlencode 'match[]=up')
want_clean=$(status_body PUT "http://127.0.0.1:$P_PORT/api/v1/admin/tsdb/clean_tombstones")
want_get=$(status_body GET "http://127.0.0.1:$P_PORT/api/v1/admin/tsdb/snapshot" | cut -c1-3)
kill -TERM "$PROM_PID"; wait "$PROM_PID" 2>/dev/null

# ---- enabled ----
NE_PORT=$(free_port)
mkdir -p "$TMP/textfile"
cat >"$TMP/textfile/a.prom" <<'EOF'
# TYPE adm_value gauge
adm_value{k="a"} 1.5
adm_value{k="b"} 2.5
EOF
start_bg "$TMP/ne.log" "$NE" --web.listen-address=127.0.0.1:$NE_PORT --collector.disable-defaults \
  --collector.textfile --collector.textfile.directory="$TMP/textfile"
check "node_exporter serves the textfile" wait_for 15 body_has http://127.0.0.1:$NE_PORT/metrics '^adm_value'
cat >"$TMP/p.yml" <<YML
global:
  scrape_interval: 200ms
  scrape_timeout: 200ms
scrape_configs:
  - job_name: node
    static_configs:
      - targets: ['127.0.0.1:$NE_PORT']
YML
PORT=$(free_port)
URL=http://127.0.0.1:$PORT
FLAGS=(--config.file="$TMP/p.yml" --storage.tsdb.path="$TMP/data" --web.listen-address=127.0.0.1:$PORT
  --web.enable-admin-api --storage.tsdb.wal-compression-type=snappy)
start_bg "$TMP/on.log" "$PROMLAB" server "${FLAGS[@]}"
PID=$LAST_PID
check "promlab (admin API on) is ready" wait_for 20 http_ok $URL/-/ready
qat() { curl -fsS --get --data-urlencode "query=$1" --data-urlencode "time=$2" "$URL/api/v1/query" | jq -r "$3"; }
enough() { [ "$(qat 'count_over_time(adm_value{k="a"}[1h])' "$(date +%s)" '.data.result[0].value[1]')" -ge 10 ] 2>/dev/null; }
check "10 scrapes ingested" wait_for 20 enough
# Compare at a second ago: everything up to then is stored.
at=$(($(date +%s) - 1))
n_a=$(qat 'count_over_time(adm_value{k="a"}[1h])' "$at" '.data.result[0].value[1]')
n_b=$(qat 'count_over_time(adm_value{k="b"}[1h])' "$at" '.data.result[0].value[1]')

resp=$(status_body POST "$URL/api/v1/admin/tsdb/snapshot")
name=$(echo "${resp#* }" | jq -r .data.name)
check "snapshot answers 200 with its name ($name)" sh -c "[ '${resp%% *}' = 200 ] && echo '$name' | grep -qE '^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{16}\$'"
SNAP=$TMP/data/snapshots/$name
check "the snapshot dir holds the head as a block" sh -c "ls '$SNAP'/*/meta.json >/dev/null"
"$PROMTOOL" tsdb dump --max-time=$((at * 1000)) "$SNAP" >"$TMP/snap.dump" 2>/dev/null
L='{__name__="adm_value", instance="127.0.0.1:'$NE_PORT'", job="node", k="a"}'
check "promtool dumps the snapshot with every sample of adm_value{k=a} ($n_a)" \
  [ "$(grep -cF "$L " "$TMP/snap.dump")" = "$n_a" ]
check "promtool analyze reads the snapshot" sh -c "'$PROMTOOL' tsdb analyze '$SNAP' | grep -q 'Block ID'"
resp=$(status_body POST "$URL/api/v1/admin/tsdb/snapshot" -d skip_head=true)
name2=$(echo "${resp#* }" | jq -r .data.name)
check "snapshot with skip_head=true writes no head block" \
  sh -c "[ -d '$TMP/data/snapshots/$name2' ] && ! ls '$TMP/data/snapshots/$name2'/*/meta.json 2>/dev/null"
check "snapshot with skip_head=maybe is bad_data (400)" \
  sh -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' -X POST -d skip_head=maybe $URL/api/v1/admin/tsdb/snapshot)\" = 400 ]"

check "delete_series without match[] answers as Prometheus" \
  [ "$(status_body POST "$URL/api/v1/admin/tsdb/delete_series")" = "$want_nomatch" ]
got=$(status_body POST "$URL/api/v1/admin/tsdb/delete_series" --data-urlencode 'match[]=adm_value{k="a"}')
check "delete_series answers 204 No Content as Prometheus ($got / $want_delete)" [ "$got" = "$want_delete" ]
check "adm_value{k=a} is gone from query results" \
  [ "$(qat 'count_over_time(adm_value{k="a"}[1h])' "$at" '.data.result | length')" = 0 ]
check "adm_value{k=b} is still there" \
  [ "$(qat 'count_over_time(adm_value{k="b"}[1h])' "$at" '.data.result[0].value[1]')" = "$n_b" ]
got=$(status_body PUT "$URL/api/v1/admin/tsdb/clean_tombstones")
check "clean_tombstones answers as Prometheus ($got)" [ "$got" = "$want_clean" ]
check "GET on an admin endpoint is refused like Prometheus ($want_get)" \
  [ "$(status_body GET "$URL/api/v1/admin/tsdb/snapshot" | cut -c1-3)" = "$want_get" ]
kill -TERM "$PID"; wait "$PID"; rc=$?
check "promlab exits 0" [ "$rc" -eq 0 ]
start_bg "$TMP/on2.log" "$PROMLAB" server "${FLAGS[@]}"
PID=$LAST_PID
check "promlab restarts" wait_for 20 http_ok $URL/-/ready
check "after restart the deleted samples stay deleted (WAL tombstones)" \
  [ "$(qat 'count_over_time(adm_value{k="a"}[1h])' "$at" '.data.result | length')" = 0 ]
check "after restart adm_value{k=b} is intact" \
  [ "$(qat 'count_over_time(adm_value{k="b"}[1h])' "$at" '.data.result[0].value[1]')" = "$n_b" ]
kill -TERM "$PID"; wait "$PID"
check "no sanitizer reports" sh -c "! grep -qE 'Sanitizer|runtime error' '$TMP/on.log' '$TMP/on2.log' '$TMP/off.log'"
