#!/usr/bin/env bash
# Recording and alerting rules end to end: promlab server with a rule file
# scraping a real node_exporter, sending to Debian's real Alertmanager. The
# node_exporter goes down: the alert goes pending, then firing, shows in
# Alertmanager's /api/v2/alerts with its labels and annotations (and the
# external labels), and resolves when the target is back. /api/v1/rules and
# /api/v1/alerts are checked as JSON; the rule file passes the real
# `promtool check rules`, and `promtool test rules` and ours give the same
# verdict on a passing and a failing unit test file.
source "$(dirname "$0")/../lib.sh"

NE=$(command -v prometheus-node-exporter || echo /usr/bin/prometheus-node-exporter)
AM=$(command -v prometheus-alertmanager || echo /usr/bin/prometheus-alertmanager)
NE_PORT=$(free_port); P_PORT=$(free_port); AM_PORT=$(free_port)
URL=http://127.0.0.1:$P_PORT
AMURL=http://127.0.0.1:$AM_PORT

start_ne() {
  start_bg "$TMP/node_exporter.log" "$NE" --web.listen-address=127.0.0.1:$NE_PORT \
    --no-collector.textfile --collector.disable-defaults --collector.cpu --collector.meminfo --collector.loadavg
  NE_PID=$LAST_PID
}
start_ne

cat >"$TMP/am.yml" <<'YML'
route:
  receiver: blackhole
  group_wait: 1s
  group_interval: 1s
receivers:
  - name: blackhole
YML
start_bg "$TMP/alertmanager.log" "$AM" --config.file="$TMP/am.yml" --storage.path="$TMP/am-data" \
  --web.listen-address=127.0.0.1:$AM_PORT --cluster.listen-address=
check "node_exporter starts" wait_for 15 http_ok http://127.0.0.1:$NE_PORT/metrics
check "Alertmanager starts" wait_for 20 http_ok $AMURL/-/ready

cat >"$TMP/rules.yml" <<'YML'
groups:
  - name: system.rules
    interval: 1s
    rules:
      - record: instance:cpu:avg5m
        expr: avg(rate(node_cpu_seconds_total{mode!="idle"}[5m])) by (instance)
      - record: job:up:sum
        expr: sum by (job) (up)
  - name: api.rules
    interval: 1s
    rules:
      - record: api:request_duration:p95
        expr: histogram_quantile(0.95, sum by (le) (rate(prometheus_http_request_duration_seconds_bucket[1m])))
      - alert: TargetDown
        expr: up{job="node"} == 0
        for: 2s
        labels:
          severity: page
        annotations:
          summary: "{{ $labels.instance }} of job {{ $labels.job }} is down"
          description: "up is {{ $value | humanize }} on {{ $externalLabels.lab }}"
      # The curriculum's PrometheusHighMemory, with a threshold this machine crosses.
      - alert: PrometheusHighMemory
        expr: max(process_resident_memory_bytes{job="prometheus"}) / max(node_memory_MemTotal_bytes) > 0.000001
        for: 1s
        labels:
          severity: warning
        annotations:
          summary: "promlab uses {{ $value | humanizePercentage }} of the memory"
YML

cat >"$TMP/prometheus.yml" <<YML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
  external_labels:
    lab: integration
rule_files:
  - "rules*.yml"
alerting:
  alertmanagers:
    - static_configs:
        - targets: ['127.0.0.1:$AM_PORT']
scrape_configs:
  - job_name: 'prometheus'
    static_configs:
      - targets: ['127.0.0.1:$P_PORT']
  - job_name: 'node'
    static_configs:
      - targets: ['127.0.0.1:$NE_PORT']
YML

# The same rule file passes the real promtool and ours; the config check follows the glob.
check "promtool check rules accepts the rule file" sh -c "promtool check rules '$TMP/rules.yml' >/dev/null"
out=$("$PROMLAB" tool check rules "$TMP/rules.yml" 2>&1)
check "promlab tool check rules: SUCCESS: 5 rules found" grep -q "SUCCESS: 5 rules found" <<<"$out"
out=$("$PROMLAB" tool check config "$TMP/prometheus.yml" 2>&1)
check "promlab tool check config finds the rule file through the glob" grep -q "SUCCESS: 1 rule files found" <<<"$out"

# A bad rule file is refused at start with file:line.
printf 'groups:\n  - name: x\n    rules:\n      - record: bad name\n        expr: up\n' >"$TMP/badrules.yml"
sed "s|\"rules\\*.yml\"|\"$TMP/badrules.yml\"|" "$TMP/prometheus.yml" >"$TMP/bad.yml"
"$PROMLAB" server --config.file="$TMP/bad.yml" --storage.tsdb.path="$TMP/bad-data" \
  --web.listen-address=127.0.0.1:$(free_port) >"$TMP/bad.log" 2>&1
check "bad rule file: exit status 1" [ $? -eq 1 ]
check "bad rule file: error names file:line:col and the reason" \
  grep -q "badrules.yml: 4:17: group \"x\", rule 1, \"bad name\": invalid recording rule name: bad name" "$TMP/bad.log"

# for-grace-period 1s: TargetDown's `for` (2s) is long enough for its state to be restored on restart.
start_server() {
  start_bg "$TMP/server$1.log" "$PROMLAB" server --config.file="$TMP/prometheus.yml" --storage.tsdb.path="$TMP/data" \
    --web.listen-address=127.0.0.1:$P_PORT --web.enable-lifecycle --rules.alert.resend-delay=1s \
    --rules.alert.for-grace-period=1s --web.external-url=http://promlab.example:9090/
  SERVER_PID=$LAST_PID
}
start_server ""
check "server becomes ready" wait_for 20 http_ok $URL/-/ready

rec_node() { [ "$(query $URL 'job:up:sum{job="node"}' '.data.result[0].value[1]')" = "1" ]; }
check 'recording rule job:up:sum{job="node"} is 1' wait_for 15 rec_node
cpu_rec() { [ "$(query $URL 'instance:cpu:avg5m' '.data.result | length')" = "1" ]; }
check "curriculum rule instance:cpu:avg5m over node_exporter has a series" wait_for 15 cpu_rec
p95() { v=$(query $URL 'api:request_duration:p95' '.data.result[0].value[1]'); [ -n "$v" ] && [ "$v" != "null" ]; }
check "histogram_quantile rule api:request_duration:p95 has a value" wait_for 15 p95

rules=$(curl -fsS "$URL/api/v1/rules")
check "/api/v1/rules: two groups sorted by name in one file" \
  [ "$(jq -r '[.data.groups[].name] | join(",")' <<<"$rules")" = "api.rules,system.rules" ]
check "/api/v1/rules: group interval 1, limit 0, file is the rule file" \
  [ "$(jq -r '.data.groups[0] | "\(.interval) \(.limit) \(.file)"' <<<"$rules")" = "1 0 $TMP/rules.yml" ]
check "/api/v1/rules: recording rule health ok, type recording, query printed" \
  [ "$(jq -r '.data.groups[1].rules[1] | "\(.health) \(.type) \(.query)"' <<<"$rules")" = "ok recording sum by (job) (up)" ]
check "/api/v1/rules: alerting rule inactive, duration 2, labels and annotations" \
  [ "$(jq -r '.data.groups[0].rules[1] | "\(.state) \(.duration) \(.labels.severity) \(.type) \(.alerts | length)"' <<<"$rules")" = "inactive 2 page alerting 0" ]

# The PrometheusHighMemory shape: pending, then firing, then in Alertmanager.
mem_state() { curl -fsS "$URL/api/v1/alerts" | jq -r '.data.alerts[] | select(.labels.alertname=="PrometheusHighMemory") | .state'; }
mem_firing() { [ "$(mem_state)" = "firing" ]; }
check "PrometheusHighMemory goes firing" wait_for 15 mem_firing
mem_am() { curl -fsS "$AMURL/api/v2/alerts" | jq -e '.[] | select(.labels.alertname=="PrometheusHighMemory" and .labels.severity=="warning")' >/dev/null; }
check "PrometheusHighMemory arrives at Alertmanager" wait_for 10 mem_am
check "PrometheusHighMemory's annotation is a percentage" \
  sh -c "curl -fsS $AMURL/api/v2/alerts | jq -r '.[] | select(.labels.alertname==\"PrometheusHighMemory\") | .annotations.summary' | grep -qE '^promlab uses [0-9.e+-]+% of the memory$'"
check "/api/v1/rules?type=record leaves out alerting rules" \
  [ "$(curl -fsS "$URL/api/v1/rules?type=record" | jq '[.data.groups[].rules[] | select(.type=="alerting")] | length')" = "0" ]
check "/api/v1/rules?rule_name[]=TargetDown selects one group with one rule" \
  [ "$(curl -fsS -g "$URL/api/v1/rules?rule_name[]=TargetDown" | jq -r '[.data.groups[] | .name + ":" + (.rules | length | tostring)] | join(",")')" = "api.rules:1" ]
check "/api/v1/rules?type=alert lists the two alerting rules only" \
  [ "$(curl -fsS "$URL/api/v1/rules?type=alert" | jq -r '[.data.groups[].rules[].name] | join(",")')" = "TargetDown,PrometheusHighMemory" ]
code=$(curl -s -o "$TMP/type.json" -w '%{http_code}' "$URL/api/v1/rules?type=foo")
check "/api/v1/rules?type=foo: 400 bad_data" [ "$code" = "400" ] && [ "$(jq -r .errorType "$TMP/type.json")" = "bad_data" ]

# The target goes down.
kill "$NE_PID"
td() { curl -fsS "$URL/api/v1/alerts" | jq '[.data.alerts[] | select(.labels.alertname=="TargetDown")]'; }
pending() { [ "$(td | jq -r '.[0].state')" = "pending" ]; }
check "alert goes pending" wait_for 10 pending
firing() { [ "$(td | jq -r '.[0].state')" = "firing" ]; }
check "alert goes firing after for: 2s" wait_for 10 firing
alerts=$(td)
check "/api/v1/alerts: labels alertname, instance, job, severity" \
  [ "$(jq -r '.[0].labels | [.alertname, .instance, .job, .severity] | join(" ")' <<<"$alerts")" = "TargetDown 127.0.0.1:$NE_PORT node page" ]
check "/api/v1/alerts: annotations expanded from the templates" \
  [ "$(jq -r '.[0].annotations | .summary + "|" + .description' <<<"$alerts")" = "127.0.0.1:$NE_PORT of job node is down|up is 0 on integration" ]
check "/api/v1/alerts: value in Prometheus's form and an activeAt time" \
  [ "$(jq -r '.[0] | .value + " " + (.activeAt | test("^20[0-9-]+T[0-9:.]+Z$") | tostring)' <<<"$alerts")" = "0e+00 true" ]
check "ALERTS{alertstate=\"firing\"} is written" \
  wait_for 5 sh -c "curl -fsS --get --data-urlencode 'query=ALERTS{alertname=\"TargetDown\",alertstate=\"firing\"}' $URL/api/v1/query | jq -e '.data.result | length == 1' >/dev/null"
check "ALERTS_FOR_STATE holds activeAt" \
  sh -c "curl -fsS --get --data-urlencode 'query=ALERTS_FOR_STATE{alertname=\"TargetDown\"}' $URL/api/v1/query | jq -e '.data.result[0].value[1] | tonumber > 1700000000' >/dev/null"

am_has() { curl -fsS "$AMURL/api/v2/alerts" | jq -e '.[] | select(.labels.alertname=="TargetDown")' >/dev/null; }
check "Alertmanager's /api/v2/alerts shows the alert" wait_for 10 am_has
am=$(curl -fsS "$AMURL/api/v2/alerts" | jq '[.[] | select(.labels.alertname=="TargetDown")][0]')
check "Alertmanager: labels, with the external label lab=integration" \
  [ "$(jq -r '.labels | [.alertname, .severity, .job, .lab] | join(" ")' <<<"$am")" = "TargetDown page node integration" ]
check "Alertmanager: annotations" [ "$(jq -r '.annotations.summary' <<<"$am")" = "127.0.0.1:$NE_PORT of job node is down" ]
check "Alertmanager: generatorURL is the external URL's graph link" \
  grep -q '^http://promlab.example:9090/graph?g0.expr=up%7Bjob%3D%22node%22%7D+%3D%3D+0&g0.tab=1$' <<<"$(jq -r .generatorURL <<<"$am")"
check "Alertmanager: status active" [ "$(jq -r '.status.state' <<<"$am")" = "active" ]
check "prometheus_notifications_sent_total counts alerts for the Alertmanager" \
  body_has $URL/metrics "^prometheus_notifications_sent_total\\{alertmanager=\"http://127.0.0.1:$AM_PORT/api/v2/alerts\"\\} [1-9]"
check "prometheus_notifications_alertmanagers_discovered 1" body_has $URL/metrics '^prometheus_notifications_alertmanagers_discovered 1$'
check "prometheus_rule_group_rules{rule_group=\"FILE;api.rules\"} 3" \
  body_has $URL/metrics "^prometheus_rule_group_rules\\{rule_group=\"$TMP/rules.yml;api.rules\"\\} 3$"
check "prometheus_rule_group_iterations_total counts" \
  body_has $URL/metrics '^prometheus_rule_group_iterations_total\{rule_group=".*;system.rules"\} [1-9]'
check "prometheus_rule_evaluation_duration_seconds summary" body_has $URL/metrics '^prometheus_rule_evaluation_duration_seconds_count [1-9]'

# A reload with the same rule file keeps the firing alert (its activeAt does not move).
before=$(td | jq -r '.[0].activeAt')
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST $URL/-/reload)
check "reload: 200" [ "$code" = "200" ]
after=$(td | jq -r '.[0].state + " " + .[0].activeAt')
check "reload with unchanged groups keeps the alert firing with the same activeAt" [ "$after" = "firing $before" ]

# A reload with a broken rule file is refused; the rules stay.
cp "$TMP/rules.yml" "$TMP/rules.good"
printf 'groups:\n  - name: y\n    rules:\n      - alert: X\n        expr: up ==\n' >"$TMP/rules2.yml"
code=$(curl -s -o "$TMP/reload.txt" -w '%{http_code}' -X POST $URL/-/reload)
check "reload with a bad rule file: HTTP 500 naming the file" [ "$code" = "500" ] && grep -q "rules2.yml: 5:15" "$TMP/reload.txt"
rm -f "$TMP/rules2.yml"
check "the alert is still firing after the refused reload" firing

# A restart while the alert fires: `for` state comes back from ALERTS_FOR_STATE
# (activeAt to the second, as Prometheus stores it), so the alert is firing again at once.
active_s=$(td | jq -r '.[0].activeAt' | cut -c1-19)
kill "$SERVER_PID"
for _ in $(seq 1 40); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.25; done
start_server 2
check "server restarts" wait_for 20 http_ok $URL/-/ready
check "after the restart the alert is firing again" wait_for 10 firing
check "after the restart activeAt is the one before ($active_s)" \
  [ "$(td | jq -r '.[0].activeAt' | cut -c1-19)" = "$active_s" ]
check "the restore is logged" wait_for 5 grep -q "'for' state restored.*alertname=TargetDown" "$TMP/server2.log"

# The target comes back: the alert resolves, and Alertmanager hears it.
start_ne
inactive() { [ "$(td | jq 'length')" = "0" ]; }
check "alert resolves when the target is back" wait_for 15 inactive
am_gone() { ! am_has; }
check "Alertmanager no longer lists it as active (resolved)" wait_for 15 am_gone

# promtool test rules and ours agree on a unit test file (a passing and a failing one).
cat >"$TMP/test_ok.yml" <<'YML'
rule_files: [rules.yml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'up{job="node", instance="n1:9100"}'
        values: '1 1 0 0 0 0 0'
      - series: 'up{job="prometheus", instance="p:9090"}'
        values: '1+0x6'
    alert_rule_test:
      - eval_time: 1m
        alertname: TargetDown
        exp_alerts: []
      - eval_time: 5m
        alertname: TargetDown
        exp_alerts:
          - exp_labels: {severity: page, instance: "n1:9100", job: node}
            exp_annotations:
              summary: "n1:9100 of job node is down"
              description: "up is 0 on "
    promql_expr_test:
      - expr: job:up:sum
        eval_time: 3m
        exp_samples:
          - labels: 'job:up:sum{job="node"}'
            value: 0
          - labels: 'job:up:sum{job="prometheus"}'
            value: 1
YML
sed -e 's/value: 0$/value: 7/' -e 's/eval_time: 5m/eval_time: 2m/' "$TMP/test_ok.yml" >"$TMP/test_bad.yml"
(cd "$TMP" && promtool test rules test_ok.yml >p_ok.out 2>&1); p_ok=$?
(cd "$TMP" && "$PROMLAB" tool test rules test_ok.yml >o_ok.out 2>&1); o_ok=$?
check "passing unit test: promtool exit 0, promlab exit 0" [ "$p_ok:$o_ok" = "0:0" ]
check "passing unit test: same output" diff "$TMP/p_ok.out" "$TMP/o_ok.out"
(cd "$TMP" && promtool test rules test_bad.yml >p_bad.out 2>&1); p_bad=$?
(cd "$TMP" && "$PROMLAB" tool test rules test_bad.yml >o_bad.out 2>&1); o_bad=$?
check "failing unit test: promtool exit 1, promlab exit 1" [ "$p_bad:$o_bad" = "1:1" ]
check "failing unit test: same messages as promtool" diff "$TMP/p_bad.out" "$TMP/o_bad.out"

kill "$SERVER_PID" 2>/dev/null
for _ in $(seq 1 40); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.25; done
check "server exits on SIGTERM" sh -c "! kill -0 $SERVER_PID 2>/dev/null"

# Alertmanagers from file_sd_configs: a second server finds the Alertmanager in
# a target file, sends to it, and drops it when the file no longer lists it.
F_PORT=$(free_port); FURL=http://127.0.0.1:$F_PORT
echo "[{\"targets\": [\"127.0.0.1:$AM_PORT\"]}]" >"$TMP/am_sd.json"
cat >"$TMP/fsd.yml" <<YML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
alerting:
  alertmanagers:
    - file_sd_configs:
        - files: ["$TMP/am_sd*.json"]
rule_files: ["$TMP/fsd_rules.yml"]
YML
cat >"$TMP/fsd_rules.yml" <<YML
groups:
  - name: fsd
    interval: 1s
    rules:
      - alert: FileSdAlert
        expr: vector(1)
YML
start_bg "$TMP/fsd.log" "$PROMLAB" server --config.file="$TMP/fsd.yml" --storage.tsdb.path="$TMP/fsd-data" \
  --web.listen-address=127.0.0.1:$F_PORT --rules.alert.resend-delay=1s
FSD_PID=$LAST_PID
check "file_sd server becomes ready" wait_for 20 http_ok $FURL/-/ready
ams_json() { curl -fsS $FURL/api/v1/alertmanagers | jq -c "[.data.activeAlertmanagers[].url]"; }
check "file_sd: /api/v1/alertmanagers lists the Alertmanager from the target file" \
  [ "$(ams_json)" = "[\"http://127.0.0.1:$AM_PORT/api/v2/alerts\"]" ]
fsd_am_has() { curl -fsS "$AMURL/api/v2/alerts?filter=alertname%3DFileSdAlert" | jq -e "length == 1" >/dev/null; }
check "file_sd: the alert reaches the Alertmanager it found" wait_for 15 fsd_am_has
echo "[]" >"$TMP/am_sd.json.tmp" && mv "$TMP/am_sd.json.tmp" "$TMP/am_sd.json"
ams_gone() { [ "$(ams_json)" = "[]" ]; }
check "file_sd: the Alertmanager is dropped once the file no longer lists it" wait_for 15 ams_gone
check "file_sd: prometheus_notifications_alertmanagers_discovered 0" \
  body_has $FURL/metrics "^prometheus_notifications_alertmanagers_discovered 0$"
kill "$FSD_PID"; for _ in $(seq 1 40); do kill -0 "$FSD_PID" 2>/dev/null || break; sleep 0.25; done
check "file_sd: the server stops on SIGTERM" sh -c "! kill -0 $FSD_PID 2>/dev/null"
check "file_sd: no sanitizer reports" sh -c "! grep -qE 'Sanitizer|runtime error' '$TMP/fsd.log'"
check "no sanitizer reports in the server logs" sh -c "! grep -qE 'Sanitizer|runtime error' '$TMP/server.log' '$TMP/server2.log'"
